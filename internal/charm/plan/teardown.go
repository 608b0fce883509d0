package plan

import (
	"fmt"
	"strings"
)

// Names from metadata.yaml that the teardown decision reads hook names by.
const (
	PeerEndpoint = "replication"
	StorageName  = "pgdata"
)

// TeardownFacts are what the teardown decision needs, all from Juju.
type TeardownFacts struct {
	Unit       string
	Hook       string
	Dying      bool   // goal-state says the unit is being removed
	Storage    string // where pgdata is mounted now; "" when detached or detaching
	HadStorage string // the pgdata storage the unit has had (unit state), "" if never
	Departing  string // JUJU_DEPARTING_UNIT
}

// Teardown says whether this unit must leave PostgreSQL stopped in this hook, and its
// status then: it is going away, or its storage is going or gone. On Juju 3.6 a dying unit
// runs pgdata-storage-detaching before any other teardown hook (worker/uniter/resolver.go),
// and every later hook runs without the volume: none of them may create, clone or start a
// cluster, or write where the data directory was. It holds whatever the configuration
// says, so it is decided before any option is looked at.
func Teardown(f TeardownFacts) (stop bool, s Status) {
	leaving := Status{StatusMaintenance, "Leaving: PostgreSQL stopped"}
	switch {
	case f.Dying || f.Hook == "stop" || f.Hook == "remove":
		return true, leaving
	case f.Hook == StorageName+"-storage-detaching":
		return true, Status{StatusBlocked, StorageName + " storage detaching: PostgreSQL stopped; the data stays on the volume"}
	case f.Storage == "" && f.HadStorage != "":
		return true, Status{StatusBlocked, fmt.Sprintf(
			"%s storage %s is detached: PostgreSQL stopped; attach it again with juju attach-storage %s %s",
			StorageName, f.HadStorage, f.Unit, f.HadStorage)}
	case f.Departing == f.Unit && strings.HasPrefix(f.Hook, PeerEndpoint+"-relation-"):
		return true, leaving
	}
	return false, Status{}
}
