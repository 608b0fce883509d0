// Package state holds the whole jujusim world (controllers, models, units, relations,
// storage, secrets, hook contexts) as one JSON document guarded by a file lock, so that
// the CLI and the hook tools running inside machines see one consistent controller.
package state

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// State is the persisted world.
type State struct {
	// Current is the active "controller:admin/model" (model part may be empty).
	Current     string                  `json:"current,omitempty"`
	Controllers map[string]*Controller  `json:"controllers"`
	Models      map[string]*Model       `json:"models"`    // by UUID
	Relations   map[int]*Relation       `json:"relations"` // by global key
	Volumes     map[string]*Volume      `json:"volumes"`   // by provider id
	Contexts    map[string]*HookContext `json:"contexts"`  // running hooks by JUJU_CONTEXT_ID
	Seq         int                     `json:"seq"`       // global counter
}

// Controller is a region: one bridge and one subnet.
type Controller struct {
	Name     string `json:"name"`
	UUID     string `json:"uuid"`
	Subnet   string `json:"subnet"`
	HostAddr string `json:"host-addr"`
	Bridge   string `json:"bridge"`
	NextHost int    `json:"next-host"` // next host number in the subnet for a machine
	// PublicSubnet carries the machines' public addresses (the same host numbers), on the
	// same bridge; PublicHostAddr is the host's address in it. Empty: no public addresses.
	PublicSubnet   string `json:"public-subnet,omitempty"`
	PublicHostAddr string `json:"public-host-addr,omitempty"`
	// Offers made by models of this controller, by "owner/model.offer".
}

// Status is a Juju status value.
type Status struct {
	Current string         `json:"current"`
	Message string         `json:"message,omitempty"`
	Data    map[string]any `json:"data,omitempty"`
	Since   time.Time      `json:"since"`
}

// Model is one Juju model.
type Model struct {
	UUID           string              `json:"uuid"`
	Name           string              `json:"name"`
	Owner          string              `json:"owner"`
	Controller     string              `json:"controller"`
	Config         map[string]string   `json:"config"`
	Apps           map[string]*App     `json:"apps"`
	Units          map[string]*Unit    `json:"units"`
	Machines       map[string]*Machine `json:"machines"`
	Storage        map[string]*Storage `json:"storage"`
	Offers         map[string]*Offer   `json:"offers"`
	Secrets        map[string]*Secret  `json:"secrets"`
	Actions        map[string]*Action  `json:"actions"`
	NextMachine    int                 `json:"next-machine"`
	NextRelation   int                 `json:"next-relation"`
	NextAction     int                 `json:"next-action"`
	NextFilesystem int                 `json:"next-filesystem"`
	NextStorage    map[string]int      `json:"next-storage"`
	Dying          bool                `json:"dying,omitempty"`
}

// StorageDirective is a --storage value for one storage name.
type StorageDirective struct {
	Pool    string `json:"pool"`
	SizeMiB int    `json:"size"`
	Count   int    `json:"count"`
}

// App is an application; Remote is set for a SAAS (consumed offer).
type App struct {
	Name           string                      `json:"name"`
	CharmName      string                      `json:"charm-name,omitempty"`
	CharmDir       string                      `json:"charm-dir,omitempty"`
	Revision       int                         `json:"revision"`
	Config         map[string]any              `json:"config,omitempty"` // user-set, typed
	Storage        map[string]StorageDirective `json:"storage,omitempty"`
	NextUnit       int                         `json:"next-unit"`
	Leader         string                      `json:"leader,omitempty"`
	LeaderSettings map[string]string           `json:"leader-settings,omitempty"`
	Status         Status                      `json:"status"`
	Version        string                      `json:"version,omitempty"`
	Remote         *RemoteApp                  `json:"remote,omitempty"`
	Dying          bool                        `json:"dying,omitempty"`
	// Facts copied from the charm at deploy so that hook tools never parse it.
	ConfigDefaults map[string]any          `json:"config-defaults,omitempty"`
	ConfigTypes    map[string]string       `json:"config-types,omitempty"`
	Endpoints      map[string]EndpointInfo `json:"endpoints,omitempty"`
	ExtraBindings  []string                `json:"extra-bindings,omitempty"`
	StorageMeta    map[string]StorageMeta  `json:"storage-meta,omitempty"`
}

// EndpointInfo is a charm relation endpoint.
type EndpointInfo struct {
	Interface string `json:"interface"`
	Role      string `json:"role"` // provider, requirer, peer
	Limit     int    `json:"limit,omitempty"`
}

// StorageMeta is a charm storage declaration.
type StorageMeta struct {
	Kind     string `json:"kind"`
	Location string `json:"location"`
	CountMin int    `json:"count-min"`
	CountMax int    `json:"count-max"`
	MinMiB   int    `json:"min-size"`
}

// RemoteApp describes a consumed offer.
type RemoteApp struct {
	URL        string            `json:"url"` // controller:owner/model.offer
	Controller string            `json:"controller"`
	ModelUUID  string            `json:"model-uuid"`
	App        string            `json:"app"`
	Offer      string            `json:"offer"`
	Endpoints  map[string]string `json:"endpoints"` // endpoint -> interface
}

// Offer exposes endpoints of an application to other models.
type Offer struct {
	Name      string   `json:"name"`
	App       string   `json:"app"`
	Endpoints []string `json:"endpoints"`
}

// Unit is one unit; its hook queue is Queue (head runs next).
type Unit struct {
	Name      string            `json:"name"`
	App       string            `json:"app"`
	Machine   string            `json:"machine"`
	Life      string            `json:"life"` // alive, dying
	Workload  Status            `json:"workload"`
	Agent     Status            `json:"agent"`
	Queue     []Event           `json:"queue,omitempty"`
	Failed    *Event            `json:"failed,omitempty"`  // hook in error (also Queue[0])
	Running   *Event            `json:"running,omitempty"` // event now running (in Queue until it finishes)
	Before    *Status           `json:"before-error,omitempty"`
	Installed bool              `json:"installed,omitempty"`
	Started   bool              `json:"started,omitempty"`
	Ports     []string          `json:"ports,omitempty"`
	PortEPs   map[string]string `json:"port-endpoints,omitempty"`
	State     map[string]string `json:"state,omitempty"`
	Removed   bool              `json:"removed,omitempty"`
	DestroySt bool              `json:"destroy-storage,omitempty"`
	Retries   int               `json:"retries,omitempty"`  // automatic retries of the failed hook so far
	RetryAt   time.Time         `json:"retry-at,omitempty"` // next automatic retry (zero: none)
	// Lost holds the workload and agent status the unit had before its machine became
	// unreachable (status then shows Juju's "lost"); they come back with the agent.
	Lost *[2]Status `json:"lost,omitempty"`
	// Detached lists where storage was mounted before it detached: nothing may appear
	// there afterwards (it would be on the machine's root disk).
	Detached []string `json:"detached,omitempty"`
	// StatusAt is when the update-status timer last fired (or the unit started).
	StatusAt time.Time `json:"update-status-at,omitempty"`
}

// Machine is one namespace machine.
type Machine struct {
	ID     string `json:"id"`
	Dir    string `json:"dir"`
	Addr   string `json:"addr"` // IP
	Prefix int    `json:"prefix"`
	// PublicAddr is the machine's public address ("" without one), on eth0 beside Addr.
	PublicAddr   string `json:"public-addr,omitempty"`
	PublicPrefix int    `json:"public-prefix,omitempty"`
	Hostname     string `json:"hostname"`
	Instance     string `json:"instance"`
	// Unit is the unit it hosts ("" for an empty machine from add-machine: jujusim places one
	// unit per machine).
	Unit string `json:"unit,omitempty"`
	// Pending: add-machine made the record and is still booting the machine; no unit may be
	// placed on it yet.
	Pending bool `json:"pending,omitempty"`
	// Down: the machine is off (crashed or powered off): no agent runs. Partitioned: its
	// network is cut, so its agent cannot reach the controller. Either way its units run no
	// hooks (Reachable) and, after the lease time, lose leadership.
	Down        bool      `json:"down,omitempty"`
	Partitioned bool      `json:"partitioned,omitempty"`
	LostSince   time.Time `json:"lost-since,omitempty"`
	// LeaseExpiry is when the leadership leases of its units lapse: LostSince plus the lease
	// time of the command that saw the agent go, kept here so that every later command
	// (a juju-exec on another machine, without the test's environment) agrees on it.
	LeaseExpiry time.Time `json:"lease-expiry,omitempty"`
}

// PublicAddress is the machine's public address (the private one when it has none), as
// juju status and show-unit show it (dns-name, public-address).
func (mc *Machine) PublicAddress() string {
	if mc.PublicAddr != "" {
		return mc.PublicAddr
	}
	return mc.Addr
}

// Addresses are all the machine's addresses, private first (juju status ip-addresses).
func (mc *Machine) Addresses() []string {
	if mc.PublicAddr != "" {
		return []string{mc.Addr, mc.PublicAddr}
	}
	return []string{mc.Addr}
}

// Reachable tells whether the machine's agent talks to the controller: the scheduler runs
// hooks only for units on reachable machines.
func (mc *Machine) Reachable() bool { return mc == nil || (!mc.Down && !mc.Partitioned) }

// JujuStatus is the machine's agent status as juju status shows it.
func (mc *Machine) JujuStatus() Status {
	if mc != nil && mc.Pending {
		return Status{Current: "pending"}
	}
	if mc.Reachable() {
		return Status{Current: "started"}
	}
	return Status{Current: "down", Message: "agent is not communicating with the server", Since: mc.LostSince}
}

// InstanceStatus is the machine's instance status as juju status shows it.
func (mc *Machine) InstanceStatus() Status {
	if mc.Pending {
		return Status{Current: "provisioning", Message: "starting"}
	}
	if mc.Down {
		return Status{Current: "stopped", Message: "stopped", Since: mc.LostSince}
	}
	return Status{Current: "running", Message: "running"}
}

// Relation joins two sides (one for peers). Side models may differ (cross-model).
type Relation struct {
	Key       int        `json:"key"`
	Interface string     `json:"interface"`
	Peer      bool       `json:"peer,omitempty"`
	CMR       bool       `json:"cmr,omitempty"`
	Sides     []*RelSide `json:"sides"`
	Dying     bool       `json:"dying,omitempty"`
}

// RelSide is one application's end of a relation.
type RelSide struct {
	Model    string              `json:"model"`
	App      string              `json:"app"`
	Endpoint string              `json:"endpoint"`
	Role     string              `json:"role"`
	ID       int                 `json:"id"`    // relation id in Model
	Alias    string              `json:"alias"` // how the other side names this app
	AppData  map[string]string   `json:"app-data"`
	Units    map[string]*RelUnit `json:"units"`
	Gone     bool                `json:"gone,omitempty"` // relation removed for this side
	Via      []string            `json:"via,omitempty"`  // egress subnets of this side's units (integrate --via)
}

// RelUnit is one unit's membership of a relation.
type RelUnit struct {
	Data    map[string]string `json:"data"`
	InScope bool              `json:"in-scope"`
	Created bool              `json:"created,omitempty"` // relation-created ran
	Broken  bool              `json:"broken,omitempty"`
	Seen    []string          `json:"seen,omitempty"` // remote units (real names) joined as seen by this unit
	SeenApp bool              `json:"seen-app,omitempty"`
}

// Storage is a storage instance of a model.
type Storage struct {
	ID         string `json:"id"` // pgdata/0
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	Pool       string `json:"pool"`
	SizeMiB    int    `json:"size"`
	Volume     string `json:"volume"` // provider id
	Filesystem string `json:"filesystem"`
	Unit       string `json:"unit,omitempty"`
	Location   string `json:"location,omitempty"`
	Status     string `json:"status"` // pending, attached, detached
}

// Volume is a directory that outlives units and models.
type Volume struct {
	ProviderID string `json:"provider-id"`
	Dir        string `json:"dir"`
	Pool       string `json:"pool"`
	SizeMiB    int    `json:"size"`
	Model      string `json:"model,omitempty"` // holding model uuid, "" when released
}

// Secret is a Juju 3 secret.
type Secret struct {
	ID          string               `json:"id"`
	OwnerApp    string               `json:"owner-app,omitempty"`
	OwnerUnit   string               `json:"owner-unit,omitempty"`
	Label       string               `json:"label,omitempty"`
	Description string               `json:"description,omitempty"`
	Rotate      string               `json:"rotate,omitempty"`
	Expire      string               `json:"expire,omitempty"`
	Revisions   []SecretRevision     `json:"revisions"`
	Grants      map[string]int       `json:"grants,omitempty"` // app or unit -> relation id
	Consumers   map[string]*Consumer `json:"consumers,omitempty"`
}

// SecretRevision is one revision's content.
type SecretRevision struct {
	Rev     int               `json:"rev"`
	Content map[string]string `json:"content"`
}

// Consumer is a unit's view of a secret.
type Consumer struct {
	Label string `json:"label,omitempty"`
	Rev   int    `json:"rev"`
}

// Latest returns the newest revision number.
func (s *Secret) Latest() int {
	if len(s.Revisions) == 0 {
		return 0
	}
	return s.Revisions[len(s.Revisions)-1].Rev
}

// Content returns the content of revision rev (nil if gone).
func (s *Secret) Content(rev int) map[string]string {
	for _, r := range s.Revisions {
		if r.Rev == rev {
			return r.Content
		}
	}
	return nil
}

// Action is one queued/ran action (task).
type Action struct {
	ID        string         `json:"id"`
	Unit      string         `json:"unit"`
	Name      string         `json:"name"`
	Params    map[string]any `json:"params"`
	Status    string         `json:"status"`
	Message   string         `json:"message,omitempty"`
	Results   map[string]any `json:"results,omitempty"`
	Log       []ActionLog    `json:"log,omitempty"`
	Code      int            `json:"code"`
	Stdout    string         `json:"stdout,omitempty"`
	Stderr    string         `json:"stderr,omitempty"`
	Enqueued  time.Time      `json:"enqueued"`
	Started   time.Time      `json:"started"`
	Completed time.Time      `json:"completed"`
}

// ActionLog is one action-log line.
type ActionLog struct {
	Time    time.Time `json:"timestamp"`
	Message string    `json:"message"`
}

// Event is a pending hook or action for one unit.
type Event struct {
	Kind       string `json:"kind"` // install, relation-joined, storage-attached, action, ...
	Rel        int    `json:"rel,omitempty"`
	RemoteUnit string `json:"remote-unit,omitempty"` // real unit name
	RemoteApp  string `json:"remote-app,omitempty"`  // real app name
	Departing  string `json:"departing,omitempty"`   // real unit name
	Storage    string `json:"storage,omitempty"`
	Action     string `json:"action,omitempty"`
	Secret     string `json:"secret,omitempty"`
}

// IsRelation reports whether the event is a relation hook.
func (e Event) IsRelation() bool { return strings.HasPrefix(e.Kind, "relation-") }

// InRelation reports whether the event runs in a relation context: a relation hook, or a
// juju-exec command given a relation (-r).
func (e Event) InRelation() bool { return e.IsRelation() || e.Kind == "juju-exec" && e.Rel != 0 }

// IsStorage reports whether the event is a storage hook.
func (e Event) IsStorage() bool { return strings.HasPrefix(e.Kind, "storage-") }

// HookContext is a running hook's identity and its buffered writes.
type HookContext struct {
	ID         string                       `json:"id"`
	Model      string                       `json:"model"`
	Unit       string                       `json:"unit"`
	Event      Event                        `json:"event"`
	Hook       string                       `json:"hook"`                      // hook name or action name
	RelSets    map[int]map[string]string    `json:"rel-sets,omitempty"`        // global rel key -> unit bag changes ("" deletes)
	AppSets    map[int]map[string]string    `json:"app-sets,omitempty"`        // global rel key -> app bag changes
	PortOps    []PortOp                     `json:"port-ops,omitempty"`        // in order
	StateSets  map[string]*string           `json:"state-sets,omitempty"`      // nil deletes
	SecretOps  []SecretOp                   `json:"secret-ops,omitempty"`      // in order
	StorageAdd map[string]int               `json:"storage-add,omitempty"`     // name -> count
	Reads      map[string]map[string]string `json:"reads,omitempty"`           // relation-get cache: "key/unit" -> bag
	Logs       []string                     `json:"logs,omitempty"`            // juju-log lines
	Pending    map[string]*Secret           `json:"pending-secrets,omitempty"` // secrets added in this hook
}

// PortOp is a buffered open-port/close-port.
type PortOp struct {
	Open      bool     `json:"open"`
	Port      string   `json:"port"`
	Endpoints []string `json:"endpoints,omitempty"`
}

// SecretOp is a buffered secret change.
type SecretOp struct {
	Op          string            `json:"op"` // add, set, remove, grant, revoke
	ID          string            `json:"id"`
	Content     map[string]string `json:"content,omitempty"`
	Label       *string           `json:"label,omitempty"`
	Description *string           `json:"description,omitempty"`
	Rotate      *string           `json:"rotate,omitempty"`
	Expire      *string           `json:"expire,omitempty"`
	Owner       string            `json:"owner,omitempty"`
	Revision    int               `json:"revision,omitempty"`
	Rel         int               `json:"rel,omitempty"` // model-local relation id
	Subject     string            `json:"subject,omitempty"`
}

// New returns an empty world.
func New() *State {
	s := &State{}
	s.init()
	return s
}

func (s *State) init() {
	if s.Controllers == nil {
		s.Controllers = map[string]*Controller{}
	}
	if s.Models == nil {
		s.Models = map[string]*Model{}
	}
	if s.Relations == nil {
		s.Relations = map[int]*Relation{}
	}
	if s.Volumes == nil {
		s.Volumes = map[string]*Volume{}
	}
	if s.Contexts == nil {
		s.Contexts = map[string]*HookContext{}
	}
}

// NewModel returns an empty model.
func NewModel(uuid, name, controller string) *Model {
	return &Model{
		UUID: uuid, Name: name, Owner: "admin", Controller: controller,
		Config: map[string]string{}, Apps: map[string]*App{}, Units: map[string]*Unit{},
		Machines: map[string]*Machine{}, Storage: map[string]*Storage{}, Offers: map[string]*Offer{},
		Secrets: map[string]*Secret{}, Actions: map[string]*Action{}, NextStorage: map[string]int{},
	}
}

// FindModel returns the model of controller ctrl named name.
func (s *State) FindModel(ctrl, name string) *Model {
	for _, m := range s.Models {
		if m.Controller == ctrl && m.Name == name {
			return m
		}
	}
	return nil
}

// SortedModels returns models ordered by controller then name.
func (s *State) SortedModels() []*Model {
	var ms []*Model
	for _, m := range s.Models {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool {
		if ms[i].Controller != ms[j].Controller {
			return ms[i].Controller < ms[j].Controller
		}
		return ms[i].Name < ms[j].Name
	})
	return ms
}

// UnitsOf returns the app's live (not removed) units in numeric order.
func (m *Model) UnitsOf(app string) []*Unit {
	var us []*Unit
	for _, u := range m.Units {
		if u.App == app && !u.Removed {
			us = append(us, u)
		}
	}
	SortUnits(us)
	return us
}

// SortUnits orders units by app then number.
func SortUnits(us []*Unit) {
	sort.Slice(us, func(i, j int) bool { return UnitLess(us[i].Name, us[j].Name) })
}

// UnitLess orders unit names by app then number.
func UnitLess(a, b string) bool {
	aa, an := SplitUnit(a)
	ba, bn := SplitUnit(b)
	if aa != ba {
		return aa < ba
	}
	return an < bn
}

// SplitUnit splits "app/3" into ("app", 3); n is -1 when malformed.
func SplitUnit(name string) (string, int) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return name, -1
	}
	n, err := strconv.Atoi(name[i+1:])
	if err != nil {
		return name[:i], -1
	}
	return name[:i], n
}

// SortedUnitNames returns sorted names of all non-removed units.
func (m *Model) SortedUnitNames() []string {
	var names []string
	for n, u := range m.Units {
		if !u.Removed {
			names = append(names, n)
		}
	}
	sort.Slice(names, func(i, j int) bool { return UnitLess(names[i], names[j]) })
	return names
}

// SideOf returns the side index of (model, app) in r, or -1.
func (r *Relation) SideOf(model, app string) int {
	for i, s := range r.Sides {
		if s.Model == model && s.App == app {
			return i
		}
	}
	return -1
}

// Other returns the other side's index (the same for peers).
func (r *Relation) Other(i int) int {
	if r.Peer {
		return i
	}
	return 1 - i
}

// RemoteName translates a real unit or app name of side i to the name the other side sees.
func (r *Relation) RemoteName(i int, real string) string {
	s := r.Sides[i]
	if app, n := SplitUnit(real); n >= 0 && app == s.App {
		return s.Alias + "/" + strconv.Itoa(n)
	}
	if real == s.App {
		return s.Alias
	}
	return real
}

// RealName translates an alias (as seen from the other side) of side i back to the real name.
func (r *Relation) RealName(i int, seen string) (string, bool) {
	s := r.Sides[i]
	if app, n := SplitUnit(seen); n >= 0 {
		if app == s.Alias {
			return s.App + "/" + strconv.Itoa(n), true
		}
		return "", false
	}
	if seen == s.Alias {
		return s.App, true
	}
	return "", false
}

// RelationsOfApp returns the relations in which (model, app) takes part, by key.
func (s *State) RelationsOfApp(model, app string) []*Relation {
	var rs []*Relation
	for _, r := range s.Relations {
		if i := r.SideOf(model, app); i >= 0 && !r.Sides[i].Gone {
			rs = append(rs, r)
		}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Key < rs[j].Key })
	return rs
}

// RelationByID finds the relation with model-local id in model for app.
func (s *State) RelationByID(model, app string, id int) (*Relation, int) {
	for _, r := range s.Relations {
		if i := r.SideOf(model, app); i >= 0 && r.Sides[i].ID == id && !r.Sides[i].Gone {
			return r, i
		}
	}
	return nil, -1
}

// Unit finds a unit across all models.
func (s *State) Unit(model, name string) *Unit {
	m := s.Models[model]
	if m == nil {
		return nil
	}
	return m.Units[name]
}

// NextSeq returns a fresh global sequence number.
func (s *State) NextSeq() int {
	s.Seq++
	return s.Seq
}

func (ru *RelUnit) DataOrNil() map[string]string {
	if ru == nil {
		return nil
	}
	return ru.Data
}
