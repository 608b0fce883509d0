package charm

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/charm/plan"
)

const peerEndpoint = plan.PeerEndpoint

// jujuRead is what the hook tools say, read once at the start of a hook: Juju's part of
// plan.Observed, beside the options as config-get gave them. The options are kept whole
// because apply passes some on as they are (the locale, the store's credentials); observe
// copies into plan.Observed what the decision reads of them.
type jujuRead struct {
	plan.Observed
	Config Config
}

func observeJuju(hook string) (*jujuRead, error) {
	env := goops.ReadEnv()
	j := &jujuRead{Observed: plan.Observed{
		Unit:      env.UnitName,
		Hook:      hook,
		Departing: os.Getenv("JUJU_DEPARTING_UNIT"),
		Peers:     map[string]map[string]string{},
		Self:      map[string]string{},
	}}
	f := &j.Observed
	f.App, _, _ = strings.Cut(f.Unit, "/")
	var err error
	if err = goops.GetConfig(&j.Config); err != nil {
		return nil, fmt.Errorf("observe config: %w", err)
	}
	if f.Leader, err = goops.IsLeader(); err != nil {
		return nil, fmt.Errorf("observe leadership: %w", err)
	}
	ids, err := goops.GetRelationIDs(peerEndpoint)
	if err != nil {
		return nil, fmt.Errorf("observe peers: %w", err)
	}
	if len(ids) > 0 {
		f.PeerRelation = ids[0]
		units, err := goops.ListRelationUnits(f.PeerRelation)
		if err != nil {
			return nil, fmt.Errorf("observe peers: %w", err)
		}
		for _, u := range units {
			if u == f.Departing {
				continue
			}
			if f.Peers[u], err = goops.GetUnitRelationData(f.PeerRelation, u); err != nil {
				return nil, fmt.Errorf("observe peer %s: %w", u, err)
			}
		}
		self, err := goops.GetUnitRelationData(f.PeerRelation, f.Unit)
		if err != nil {
			return nil, fmt.Errorf("observe own peer data: %w", err)
		}
		if self != nil {
			f.Self = self
		}
		bag, err := goops.GetAppRelationData(f.PeerRelation, f.Unit)
		if err != nil {
			return nil, fmt.Errorf("observe peer application data: %w", err)
		}
		f.AppBag = plan.ParseAppState(bag)
	}
	f.Applied = f.Self[plan.KeyApplied]
	gs, err := goops.GetGoalState()
	if err != nil {
		return nil, fmt.Errorf("observe goal state: %w", err)
	}
	f.Dying = gs.Units[f.Unit].Status == "dying"
	f.DyingUnits = map[string]bool{}
	for u, st := range gs.Units {
		if st.Status == "dying" || st.Status == "dead" {
			f.DyingUnits[u] = true
		}
	}
	if f.Leader && f.AppBag.Primary == "" {
		// Only the first choice of a primary waits for every unit Juju means to have.
		for u, st := range gs.Units {
			if st.Status != "dying" && st.Status != "dead" {
				f.Expected = append(f.Expected, u)
			}
		}
		sort.Strings(f.Expected)
	}
	nw, err := peerNetwork(f.PeerRelation)
	if err != nil {
		return nil, fmt.Errorf("observe network: %w", err)
	}
	if len(nw.IngressAddresses) > 0 {
		f.Address = nw.IngressAddresses[0]
	}
	observeTLS(f)
	if err := observeClients(f); err != nil {
		return nil, err
	}
	if err := observeDatabase(f, j.Config.DatabaseAllowSuperuser); err != nil {
		return nil, err
	}
	if hook != "pgdata-storage-detaching" {
		ids, err := goops.ListStorage("pgdata")
		if err != nil {
			return nil, fmt.Errorf("observe storage: %w", err)
		}
		if len(ids) > 0 {
			info, err := goops.GetStorageByID(ids[0])
			if err != nil {
				return nil, fmt.Errorf("observe storage %s: %w", ids[0], err)
			}
			f.Storage, f.StorageID = info.Location, ids[0]
		}
	}
	if had, err := goops.GetState(stateStorage); err == nil {
		f.HadStorage = had
	}
	return j, nil
}

// peerNetwork is the peer binding's network as the peer relation sees it. network-get's -r
// defaults to the hook's relation, so in a hook of a cross-model relation a bare
// `network-get replication` answers with that relation's ingress, the public address; this
// unit would then publish it to its peers, which would admit it in pg_hba and follow it at
// an address replication does not use (TestDatabaseRelation met it: the new primary's
// pg_hba no longer admitted its standby's private address).
func peerNetwork(peerID string) (*goops.Network, error) {
	if peerID == "" {
		return goops.GetNetwork(peerEndpoint)
	}
	out, err := goops.GetCommandRunner().Run("network-get", peerEndpoint, "-r", peerID, "--format=json")
	if err != nil {
		return nil, err
	}
	var nw goops.Network
	if err := json.Unmarshal(out, &nw); err != nil {
		return nil, fmt.Errorf("network-get %s: %w", peerEndpoint, err)
	}
	return &nw, nil
}
