package plan

import (
	"fmt"
	"slices"
	"strings"
)

// Decide is the charm's one decision per hook: from what the hook observed, what the unit
// is to bring about. It is pure and cheap, so apply calls it again after every step it
// takes. The stages come in the order the unit meets them: teardown (whatever the
// configuration holds), the options, setup, the application's secret, the leader's
// choices (primary, restart lock, the application's database), the unit's next step.
func Decide(o Observed) Desired {
	var d Desired
	if stop, s := Teardown(TeardownFacts{Unit: o.Unit, Hook: o.Hook, Dying: o.Dying, Storage: o.Storage,
		HadStorage: o.HadStorage, Departing: o.Departing}); stop {
		d.Teardown, d.TeardownBag, d.Why.Teardown = true, teardownBag(o), s
		return finish(d)
	}
	if o.ConfigProblem != "" {
		d.Halt, d.Why.Config = true, o.ConfigProblem
		return finish(d)
	}
	v := o.Version
	if v.Fixed && v.Option != "" && v.Option != v.Major {
		d.Halt, d.Why.Config = true, fmt.Sprintf(
			"version: this unit runs PostgreSQL %s and cannot change in place; set version back to %s or empty", v.Major, v.Major)
		return finish(d)
	}
	if !v.Installed {
		d.Setup.Install = v.Major
	}
	if !v.Fixed {
		d.Setup.RecordVersion = v.Major
	}
	if o.Storage != "" {
		if o.StorageID != o.HadStorage {
			// Remembered so that a unit whose volume goes away knows it, and never
			// starts afresh on the root disk.
			d.Setup.RecordStorage = o.StorageID
		}
		d.Setup.OpenStorage = o.StorageClosed
	}
	if o.ConfFile != "" {
		d.Halt, d.Why.ConfFile = true, o.ConfFile
		return finish(d)
	}
	d.Setup.RemoveStaleRestore = o.StaleRestore
	d.Setup.RecordDataDir = o.DataDirUnrecorded && o.Configured

	app := o.AppBag
	switch {
	case app.SecretID == "" && o.Leader && o.Peered():
		d.Secret.Create = true
	case o.Leader && app.SecretID != "" && o.Secret.CA == "":
		d.Secret.AddCA = true
	}
	if !o.Secret.Password {
		d.Hold, d.Why.NoSecret = true, true
		return finish(d)
	}
	if o.Secret.CA == "" {
		d.Hold, d.Why.NoCA = true, true
		return finish(d)
	}
	if o.Leader {
		app.CA = o.Secret.CA
		app, d.Why.Choosing = leaderChoices(o, app)
	}
	d.App, d.Primary = app, app.Primary

	local := o.Local
	local.AppSystemID = app.SystemID
	d.Target = target(o, app.Primary)
	dec := DecideLocal(local, app.Primary, d.Target, rival(o, app.Primary, app.Failed))
	d.Step, d.Why.Local = dec.Step, dec.Status
	d.Step, d.Why.Local = fenced(o, app.Primary, d.Step, d.Why.Local)
	d.IsPrimary = IsPrimary(o.Local, app.Primary)
	d.HBA, d.Admits = hbaRules(o)
	d.CertHosts = certHosts(o)
	d.RefreshStandby = o.Configured && local.Running && local.Standby && app.Primary != o.Unit &&
		o.Self[KeyFollowing] == app.Primary && d.Target.Ready
	// A settled unit whose settings wait for a restart restarts when it holds the lock.
	if d.Step == StepNone && o.NeedsRestart {
		d.Restart = app.RestartHolder == o.Unit
		d.Why.Restart = !d.Restart
	}
	d.Slots = decideSlots(o, d.IsPrimary)
	d.Sync = quorum(o, app.Primary)
	if d.IsPrimary {
		d.Why.Sync = d.Sync.Note
	}
	d.Clients = decideClients(o, app, d.IsPrimary)
	d.Databases = decideDatabases(o, app, d.IsPrimary)
	d.Why.Refused = append(append([]string(nil), d.Clients.Refused...), d.Databases.Refused...)
	d.Archive, d.Why.Archive, d.Why.ArchiveHealth = decideArchive(o.Archive, d.IsPrimary)
	d.Settings, d.SettingsRefused = decideSettings(o, d.Archive.Enabled, d.Sync)
	if o.Configured {
		// Blocks only a unit with a server to configure: one without creates or clones
		// it first, and is refused when it configures it.
		d.Why.ServerConfig = d.SettingsRefused
	}
	d.OldData = DecideOldData(o.OldData, o.NewestBackup)
	d.Why.OldData = d.OldData.Note
	// The port and version only change with the server itself: a unit that already was
	// running at its last report has set them, unless the charm or its config just changed.
	announced := o.Self[KeyRole] != "" && o.Hook != "upgrade-charm" && o.Hook != "config-changed"
	d.Announce = o.Configured && !announced
	return finish(d)
}

func finish(d Desired) Desired {
	d.Status = UnitStatus(d.Why)
	return d
}

// teardownBag tells the peers that this unit no longer serves, so that the leader never
// keeps or chooses it as primary: its role goes, and a unit whose storage went away says
// so (a dying one the leader sees in goal-state). Nil when the bag says so already.
func teardownBag(o Observed) map[string]string {
	if !o.Peered() {
		return nil
	}
	want := map[string]string{KeyRole: ""}
	if o.Storage == "" && (o.HadStorage != "" || o.Hook == StorageName+"-storage-detaching") {
		want[KeyDetached] = "true"
	}
	for k, v := range want {
		if o.Self[k] != v {
			return want
		}
	}
	return nil
}

// RoleOf is what a unit's server runs as, from its own facts.
func RoleOf(l Local) Role {
	switch {
	case l.Running && l.Standby:
		return RoleStandby
	case l.Running:
		return RolePrimary
	}
	return RoleNone
}

// group is the leader's view of the application: its own unit from its own facts, the
// others from their reports, with what it measured on their servers in place of what
// they reported.
func group(o Observed) Group {
	g := Group{Leader: o.Unit, Units: map[string]Unit{}, Expected: o.Expected, Primary: o.AppBag.Primary,
		Switchover: o.AppBag.Switchover, SystemID: o.AppBag.SystemID}
	l := o.Local
	g.Units[o.Unit] = Unit{Name: o.Unit, Reported: true, HasData: l.HasData, SystemID: l.SystemID,
		Timeline: l.Timeline, LSN: l.LSN, Role: RoleOf(l), Measured: true, Dying: o.Dying}
	for name, data := range o.Peers {
		_, u := ParseUnitReport(name, data)
		u.Dying = o.DyingUnits[name]
		if m, ok := o.Measured[name]; ok {
			u.Timeline, u.LSN, u.Measured = m.Timeline, m.LSN, true
			if m.Role != "" {
				u.Role = m.Role
			}
		}
		g.Units[name] = u
	}
	return g
}

// MeasureWanted names the peers whose servers the leader must read before it decides: on
// a failover, every unit that may succeed the lost primary. Otherwise none: relation data
// is enough, and measuring costs a connection to every peer on every hook.
func MeasureWanted(o Observed) []string {
	if !o.Leader {
		return nil
	}
	g := group(o)
	if !PrimaryLost(g) {
		return nil
	}
	var names []string
	for _, u := range sortedUnits(g.Units) {
		if u.Name != o.Unit && u.HasData && u.Name != g.Primary && u.Eligible() {
			names = append(names, u.Name)
		}
	}
	return names
}

// leaderChoices are the leader's decisions for the application bag: the primary, the
// restart lock and the application's database. Each is a function of what it observed,
// so writing the result again changes nothing: the leader gets relation-changed for its
// own writes, and every unit may be half-way through a hook while it decides.
func leaderChoices(o Observed, app AppState) (AppState, string) {
	g := group(o)
	app, choosing := failoverChoices(o, app, &g)
	choice := ChoosePrimary(g)
	if choice.Primary != "" {
		app.Primary = choice.Primary
		if app.Switchover == choice.Primary {
			app.Switchover = ""
		}
	} else if app.Primary == "" && choosing == "" {
		choosing = choice.Waiting
	}
	requests, present := map[string]bool{o.Unit: o.NeedsRestart}, map[string]bool{o.Unit: true}
	applied := map[string]UnitReport{o.Unit: {Role: RoleOf(o.Local), Applied: o.Applied}}
	for name, data := range o.Peers {
		rep, _ := ParseUnitReport(name, data)
		requests[name], present[name] = rep.RestartRequest, true
		applied[name] = rep
	}
	if requests[app.Primary] && app.RestartHolder != app.Primary && StandbysBehind(app.Primary, applied, o.Probes) {
		requests[app.Primary] = false
	}
	app.RestartHolder = GrantRestart(app.RestartHolder, requests, present, app.Primary)
	app.SystemID = RecordSystemID(app.SystemID, g.Units[app.Primary], app.Primary)
	return app, choosing
}

// target is the chosen primary as this unit sees it through the peer relation.
func target(o Observed, primary string) Target {
	data, ok := o.Peers[primary]
	if primary == "" || primary == o.Unit || !ok {
		return Target{Name: primary}
	}
	rep, _ := ParseUnitReport(primary, data)
	return Target{Name: primary, Address: rep.Address, SystemID: rep.SystemID, Timeline: rep.Timeline,
		History: rep.History, Restore: rep.Restore, Ready: rep.Role == RolePrimary && rep.Address != "" &&
			slices.Contains(strings.Fields(rep.Admits), o.Unit)}
}

// rival is another unit still reporting itself primary while primary is chosen. A primary
// the leader failed over from (failed) still says so in its stale report: it is fenced or
// gone, and steps down when it comes back.
func rival(o Observed, primary, failed string) string {
	for _, name := range sortedKeys(o.Peers) {
		if rep, _ := ParseUnitReport(name, o.Peers[name]); rep.Role == RolePrimary && name != primary && name != failed {
			return name
		}
	}
	return ""
}

// quorum is this unit's quorum commit (DecideSync). Only the chosen primary waits for
// standbys, those streaming from it now: one that is catching up, stopped or cut off
// commits nothing. A primary that is no longer the chosen one (it steps down, or comes
// back after a failover) must never release commits the new primary lacks: only its own
// standbys, if any still stream from it, acknowledge them. On any other unit both
// settings are the defaults, and a promoted standby takes them in the configure after
// its promotion.
func quorum(o Observed, primary string) SyncPlan {
	l := o.Local
	if primary != o.Unit {
		names := ""
		if l.Running && !l.Standby && o.Quorum.Standbys > 0 {
			names = fmt.Sprintf("ANY %d (*)", o.Quorum.Standbys)
		}
		return SyncPlan{Names: names, Commit: "on"}
	}
	// An isolated primary never relaxes to asynchronous commit: the standbys it lost may
	// be failing it over (Isolated).
	f := SyncFacts{Quorum: o.Quorum.Standbys, Strict: o.Quorum.Strict || o.Isolated, Members: sortedKeys(o.Peers)}
	if l.Running && !l.Standby {
		for _, name := range o.Streaming {
			if _, peer := o.Peers[name]; peer {
				f.Healthy = append(f.Healthy, name)
			}
		}
	}
	return DecideSync(f)
}

// certHosts are every address this unit is reached at, sorted, each once (the CA
// normalises them further when it issues).
func certHosts(o Observed) []string {
	hosts := []string{o.Address, o.PrivateAddress, o.PublicAddress}
	for _, id := range sortedKeys(o.Clients.Hosts) {
		hosts = append(hosts, o.Clients.Hosts[id])
	}
	for _, id := range sortedKeys(o.Databases.Hosts) {
		hosts = append(hosts, o.Databases.Hosts[id])
	}
	var out []string
	for _, h := range hosts {
		if h = strings.TrimSpace(h); h != "" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	slices.Sort(out)
	return out
}
