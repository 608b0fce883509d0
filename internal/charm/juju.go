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

// jujuFacts is everything the decision needs from Juju, read once at the start of a hook.
type jujuFacts struct {
	Unit, App  string
	Hook       string
	Leader     bool
	Config     Config
	Departing  string // JUJU_DEPARTING_UNIT in relation-departed hooks
	RemoteUnit string

	PeerID   string                       // "replication:N", empty before the peer relation exists
	Peers    map[string]map[string]string // remote units' bags
	Self     map[string]string            // this unit's own bag
	AppBag   map[string]string            // the application bag
	Expected []string                     // units Juju means the application to have

	Address    string          // this unit's ingress address on the peer binding
	Storage    string          // where pgdata is mounted; empty when not attached (or detaching)
	StorageID  string          // its storage id (pgdata/N)
	HadStorage string          // the pgdata storage this unit has had (unit state), "" if never
	Dying      bool            // the unit is being removed (goal-state)
	DyingUnits map[string]bool // every unit of the application goal-state says is being removed

	Clients  clientFacts   // the db and db-admin relations
	Database databaseFacts // the database relations (database.go)
	TLS      tlsFacts      // addresses the server certificate names besides the bindings' (tls.go)
}

func observeJuju(hook string) (*jujuFacts, error) {
	env := goops.ReadEnv()
	f := &jujuFacts{
		Unit:       env.UnitName,
		Hook:       hook,
		Departing:  os.Getenv("JUJU_DEPARTING_UNIT"),
		RemoteUnit: os.Getenv("JUJU_REMOTE_UNIT"),
		Peers:      map[string]map[string]string{},
	}
	f.App, _, _ = strings.Cut(f.Unit, "/")
	var err error
	if err = goops.GetConfig(&f.Config); err != nil {
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
		f.PeerID = ids[0]
		units, err := goops.ListRelationUnits(f.PeerID)
		if err != nil {
			return nil, fmt.Errorf("observe peers: %w", err)
		}
		for _, u := range units {
			if u == f.Departing {
				continue
			}
			if f.Peers[u], err = goops.GetUnitRelationData(f.PeerID, u); err != nil {
				return nil, fmt.Errorf("observe peer %s: %w", u, err)
			}
		}
		if f.Self, err = goops.GetUnitRelationData(f.PeerID, f.Unit); err != nil {
			return nil, fmt.Errorf("observe own peer data: %w", err)
		}
		if f.AppBag, err = goops.GetAppRelationData(f.PeerID, f.Unit); err != nil {
			return nil, fmt.Errorf("observe peer application data: %w", err)
		}
	}
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
	if f.Leader && f.AppBag[plan.KeyPrimary] == "" {
		// Only the first choice of a primary waits for every unit Juju means to have.
		for u, st := range gs.Units {
			if st.Status != "dying" && st.Status != "dead" {
				f.Expected = append(f.Expected, u)
			}
		}
		sort.Strings(f.Expected)
	}
	nw, err := peerNetwork(f.PeerID)
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
	if err := observeDatabase(f); err != nil {
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
	return f, nil
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
