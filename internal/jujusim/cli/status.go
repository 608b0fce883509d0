package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/engine"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
	"gopkg.in/yaml.v2"
)

func init() {
	reg("status", "[--format=tabular|json|yaml]", cmdStatus)
	reg("list-storage", "[--format=tabular|json|yaml]", cmdListStorage, "storage")
}

type statusValue struct {
	Current string `json:"current" yaml:"current"`
	Message string `json:"message,omitempty" yaml:"message,omitempty"`
	Since   string `json:"since,omitempty" yaml:"since,omitempty"`
}

func sv(s state.Status) statusValue {
	cur := s.Current
	if cur == "" {
		cur = "unknown"
	}
	v := statusValue{Current: cur, Message: s.Message}
	if !s.Since.IsZero() {
		v.Since = s.Since.UTC().Format("02 Jan 2006 15:04:05Z")
	}
	return v
}

var severity = map[string]int{"error": 6, "blocked": 5, "maintenance": 4, "waiting": 3, "active": 2, "unknown": 1, "terminated": 0}

// appStatus is the leader-set status, or the most severe unit status (as Juju derives it).
func appStatus(app *state.App, units []*state.Unit) state.Status {
	if app.Status.Current != "" && app.Status.Current != "unknown" {
		return app.Status
	}
	best := state.Status{Current: "unknown"}
	for _, u := range units {
		if severity[u.Workload.Current] > severity[best.Current] {
			best = u.Workload
		}
	}
	return best
}

// statusDoc builds `juju status --format=json` for one model.
func statusDoc(st *state.State, m *state.Model) map[string]any {
	ctrl := st.Controllers[m.Controller]
	doc := map[string]any{}
	doc["model"] = map[string]any{
		"name": m.Name, "type": "iaas", "controller": m.Controller, "cloud": "jujusim", "region": m.Controller,
		"version": "3.6.1", "model-status": map[string]string{"current": "available"}, "sla": "unsupported",
	}
	machines := map[string]any{}
	for id, mc := range m.Machines {
		machines[id] = map[string]any{
			"juju-status": sv(mc.JujuStatus()), "hostname": mc.Hostname, "dns-name": mc.PublicAddress(),
			"ip-addresses": mc.Addresses(), "instance-id": mc.Instance,
			"machine-status": sv(mc.InstanceStatus()),
			"base":           map[string]string{"name": "debian", "channel": "12"},
		}
	}
	doc["machines"] = machines
	apps := map[string]any{}
	saas := map[string]any{}
	for _, name := range sortedKeys(m.Apps) {
		app := m.Apps[name]
		rels := map[string][]map[string]string{}
		for _, r := range st.Relations {
			for i, s := range r.Sides {
				if app.Remote == nil && (s.Model != m.UUID || s.App != name) {
					continue
				}
				if app.Remote != nil && (s.Model != app.Remote.ModelUUID || s.App != app.Remote.App || !relationVisibleIn(st, r, m)) {
					continue
				}
				o := r.Sides[r.Other(i)]
				related := o.App
				if o.Model != m.UUID {
					related = saasName(m, o)
				}
				if app.Remote != nil {
					related = r.Sides[r.Other(i)].App
				}
				scope := "global"
				rels[s.Endpoint] = append(rels[s.Endpoint], map[string]string{"related-application": related, "interface": r.Interface, "scope": scope})
			}
		}
		if app.Remote != nil {
			eps := map[string]any{}
			om := st.Models[app.Remote.ModelUUID]
			for ep, iface := range app.Remote.Endpoints {
				role := ""
				if om != nil && om.Apps[app.Remote.App] != nil {
					role = om.Apps[app.Remote.App].Endpoints[ep].Role
				}
				eps[ep] = map[string]string{"interface": iface, "role": role}
			}
			var us []*state.Unit
			if om != nil {
				us = om.UnitsOf(app.Remote.App)
				if oa := om.Apps[app.Remote.App]; oa != nil {
					app = &state.App{Name: app.Name, Remote: app.Remote, Status: appStatus(oa, us)}
				}
			}
			simple := map[string][]string{}
			for ep, list := range rels {
				for _, r := range list {
					simple[ep] = append(simple[ep], r["related-application"])
				}
			}
			saas[name] = map[string]any{"url": app.Remote.URL, "endpoints": eps, "application-status": sv(app.Status), "relations": simple}
			continue
		}
		units := map[string]any{}
		us := m.UnitsOf(name)
		for _, u := range us {
			mc := m.Machines[u.Machine]
			ud := map[string]any{
				"workload-status": sv(u.Workload), "juju-status": sv(u.Agent), "machine": u.Machine,
			}
			if app.Leader == u.Name {
				ud["leader"] = true
			}
			if mc != nil {
				ud["public-address"] = mc.PublicAddress()
			}
			if len(u.Ports) > 0 {
				ud["open-ports"] = u.Ports
			}
			units[u.Name] = ud
		}
		ad := map[string]any{
			"charm": app.CharmName, "charm-origin": "local", "charm-name": app.CharmName, "charm-rev": app.Revision,
			"exposed": false, "application-status": sv(appStatus(app, us)), "units": units, "base": map[string]string{"name": "debian", "channel": "12"},
		}
		if len(rels) > 0 {
			ad["relations"] = rels
		}
		if app.Version != "" {
			ad["version"] = app.Version
		}
		apps[name] = ad
	}
	doc["applications"] = apps
	if len(saas) > 0 {
		doc["application-endpoints"] = saas
	}
	if len(m.Offers) > 0 {
		offers := map[string]any{}
		for name, o := range m.Offers {
			app := m.Apps[o.App]
			eps := map[string]any{}
			for _, ep := range o.Endpoints {
				if app != nil {
					eps[ep] = map[string]string{"interface": app.Endpoints[ep].Interface, "role": app.Endpoints[ep].Role}
				}
			}
			conn := 0
			for _, r := range st.Relations {
				if r.CMR && r.SideOf(m.UUID, o.App) >= 0 {
					conn++
				}
			}
			charmName := ""
			if app != nil {
				charmName = "local:" + app.CharmName
			}
			offers[name] = map[string]any{"application": o.App, "charm": charmName, "total-connected-count": conn, "active-connected-count": conn, "endpoints": eps}
		}
		doc["offers"] = offers
	}
	if ctrl != nil {
		doc["controller"] = map[string]string{"timestamp": time.Now().UTC().Format("15:04:05Z")}
	}
	return doc
}

// relationVisibleIn reports whether r has a side in model m.
func relationVisibleIn(st *state.State, r *state.Relation, m *state.Model) bool {
	for _, s := range r.Sides {
		if s.Model == m.UUID {
			return true
		}
	}
	return false
}

// saasName is the name under which model m knows the other model's side s.
func saasName(m *state.Model, s *state.RelSide) string {
	for _, app := range m.Apps {
		if app.Remote != nil && app.Remote.ModelUUID == s.Model && app.Remote.App == s.App {
			return app.Name
		}
	}
	return s.Alias
}

func cmdStatus(c *env) error {
	var format string
	var color bool
	c.fs.String(&format, "format")
	c.fs.Bool(&color, "color")
	args, err := c.parse()
	if err != nil {
		return err
	}
	_ = args
	return c.e.Store.View(func(st *state.State) error {
		m, err := modelOf(st, c.ref())
		if err != nil {
			return err
		}
		doc := statusDoc(st, m)
		switch format {
		case "json":
			data, _ := json.Marshal(doc)
			fmt.Fprintln(c.stdout, string(data))
			return nil
		case "yaml":
			data, _ := yaml.Marshal(doc)
			_, err := c.stdout.Write(data)
			return err
		}
		return tabularStatus(c.stdout, st, m)
	})
}

func modelOf(st *state.State, ref engine.ModelRef) (*state.Model, error) {
	cur := st.Current
	ctrl, rest, _ := strings.Cut(cur, ":")
	_, model, _ := strings.Cut(rest, "/")
	if ref.Controller != "" {
		ctrl = ref.Controller
	}
	if ref.Model != "" {
		model = ref.Model
	}
	if ctrl == "" || model == "" {
		return nil, fmt.Errorf("no model selected (current %q)", cur)
	}
	m := st.FindModel(ctrl, model)
	if m == nil {
		return nil, fmt.Errorf("model %q not found", ctrl+":admin/"+model)
	}
	return m, nil
}

func tabularStatus(w io.Writer, st *state.State, m *state.Model) error {
	tw := tabwriter.NewWriter(w, 0, 1, 2, ' ', 0)
	fmt.Fprintln(tw, "Model\tController\tCloud/Region\tVersion\tSLA\tTimestamp")
	fmt.Fprintf(tw, "%s\t%s\tjujusim/%s\t3.6.1\tunsupported\t%s\n", m.Name, m.Controller, m.Controller, time.Now().UTC().Format("15:04:05Z"))
	tw.Flush()
	var saasNames, appNames []string
	for _, n := range sortedKeys(m.Apps) {
		if m.Apps[n].Remote != nil {
			saasNames = append(saasNames, n)
		} else {
			appNames = append(appNames, n)
		}
	}
	if len(saasNames) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "SAAS\tStatus\tStore\tURL")
		for _, n := range saasNames {
			app := m.Apps[n]
			status := "unknown"
			if om := st.Models[app.Remote.ModelUUID]; om != nil {
				if oa := om.Apps[app.Remote.App]; oa != nil {
					status = appStatus(oa, om.UnitsOf(oa.Name)).Current
				}
			}
			url := app.Remote.URL
			store := app.Remote.Controller
			if _, r, ok := strings.Cut(url, ":"); ok {
				url = r
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n, status, store, url)
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "App\tVersion\tStatus\tScale\tCharm\tChannel\tRev\tExposed\tMessage")
	for _, n := range appNames {
		app := m.Apps[n]
		us := m.UnitsOf(n)
		as := appStatus(app, us)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%5d\t%s\t\t%3d\tno\t%s\n", n, app.Version, as.Current, len(us), app.CharmName, app.Revision, as.Message)
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "Unit\tWorkload\tAgent\tMachine\tPublic address\tPorts\tMessage")
	for _, n := range appNames {
		app := m.Apps[n]
		for _, u := range m.UnitsOf(n) {
			name := u.Name
			if app.Leader == u.Name {
				name += "*"
			}
			addr := ""
			if mc := m.Machines[u.Machine]; mc != nil {
				addr = mc.PublicAddress()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, orUnknown(u.Workload.Current), u.Agent.Current, u.Machine, addr, strings.Join(u.Ports, ","), u.Workload.Message)
		}
	}
	tw.Flush()
	if len(m.Machines) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "Machine\tState\tAddress\tInst id\tBase\tAZ\tMessage")
		ids := sortedKeys(m.Machines)
		sort.Slice(ids, func(i, j int) bool {
			return len(ids[i]) < len(ids[j]) || (len(ids[i]) == len(ids[j]) && ids[i] < ids[j])
		})
		for _, id := range ids {
			mc := m.Machines[id]
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\tdebian@12\t\t%s\n", id, mc.JujuStatus().Current, mc.PublicAddress(), mc.Instance, mc.InstanceStatus().Message)
		}
		tw.Flush()
	}
	if len(m.Offers) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "Offer\tApplication\tCharm\tRev\tConnected\tEndpoint\tInterface\tRole")
		for _, n := range sortedKeys(m.Offers) {
			o := m.Offers[n]
			app := m.Apps[o.App]
			conn := 0
			for _, r := range st.Relations {
				if r.CMR && r.SideOf(m.UUID, o.App) >= 0 {
					conn++
				}
			}
			for _, ep := range o.Endpoints {
				info := app.Endpoints[ep]
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d/%d\t%s\t%s\t%s\n", n, o.App, app.CharmName, app.Revision, conn, conn, ep, info.Interface, info.Role)
			}
		}
		tw.Flush()
	}
	type relRow struct{ a, b, iface, typ string }
	var rows []relRow
	for _, r := range st.Relations {
		var here []int
		for i, s := range r.Sides {
			if s.Model == m.UUID {
				here = append(here, i)
			}
		}
		if len(here) == 0 {
			continue
		}
		name := func(s *state.RelSide) string {
			if s.Model == m.UUID {
				return s.App + ":" + s.Endpoint
			}
			return saasName(m, s) + ":" + s.Endpoint
		}
		if r.Peer {
			n := name(r.Sides[0])
			rows = append(rows, relRow{n, n, r.Interface, "peer"})
			continue
		}
		prov, req := r.Sides[0], r.Sides[1]
		if prov.Role != "provider" {
			prov, req = req, prov
		}
		rows = append(rows, relRow{name(prov), name(req), r.Interface, "regular"})
	}
	if len(rows) > 0 {
		sort.Slice(rows, func(i, j int) bool { return rows[i].a+rows[i].b < rows[j].a+rows[j].b })
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "Relation provider\tRequirer\tInterface\tType\tMessage")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", r.a, r.b, r.iface, r.typ)
		}
		tw.Flush()
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func humanSize(mib int) string {
	if mib >= 1024 {
		return fmt.Sprintf("%.1f GiB", float64(mib)/1024)
	}
	return fmt.Sprintf("%d MiB", mib)
}

func cmdListStorage(c *env) error {
	var format string
	c.fs.String(&format, "format")
	if _, err := c.parse(); err != nil {
		return err
	}
	return c.e.Store.View(func(st *state.State) error {
		m, err := modelOf(st, c.ref())
		if err != nil {
			return err
		}
		ids := sortedKeys(m.Storage)
		sort.Slice(ids, func(i, j int) bool { return state.UnitLess(ids[i], ids[j]) })
		if format == "json" || format == "yaml" {
			storage := map[string]any{}
			filesystems := map[string]any{}
			for _, id := range ids {
				s := m.Storage[id]
				sd := map[string]any{"kind": s.Kind, "status": map[string]string{"current": s.Status}, "persistent": true, "life": "alive"}
				if s.Unit != "" {
					machine := ""
					if u := m.Units[s.Unit]; u != nil {
						machine = u.Machine
					}
					sd["attachments"] = map[string]any{"units": map[string]any{s.Unit: map[string]any{"machine": machine, "location": s.Location, "life": "alive"}}}
					sd["owner-tag"] = "unit-" + strings.ReplaceAll(s.Unit, "/", "-")
				}
				storage[id] = sd
				fs := map[string]any{"provider-id": s.Volume, "storage": id, "pool": s.Pool, "size": s.SizeMiB, "status": map[string]string{"current": s.Status}, "life": "alive"}
				if s.Unit != "" {
					if u := m.Units[s.Unit]; u != nil {
						fs["attachments"] = map[string]any{"machines": map[string]any{u.Machine: map[string]any{"mount-point": s.Location, "read-only": false, "life": "alive"}}}
					}
				}
				filesystems[s.Filesystem] = fs
			}
			doc := map[string]any{"storage": storage, "filesystems": filesystems}
			if format == "json" {
				data, _ := json.Marshal(doc)
				fmt.Fprintln(c.stdout, string(data))
				return nil
			}
			data, _ := yaml.Marshal(doc)
			_, err := c.stdout.Write(data)
			return err
		}
		if len(ids) == 0 {
			fmt.Fprintln(c.stderr, "No storage to display.")
			return nil
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 1, 2, ' ', 0)
		fmt.Fprintln(tw, "Unit\tStorage ID\tType\tPool\tProvider id\tMountpoint\tSize\tStatus\tMessage")
		for _, id := range ids {
			s := m.Storage[id]
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", s.Unit, id, s.Kind, s.Pool, s.Volume, s.Location, humanSize(s.SizeMiB), s.Status)
		}
		return tw.Flush()
	})
}
