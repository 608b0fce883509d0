package tools

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
	"github.com/pgcharm/postgresql/internal/jujusim/machine"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
	"gopkg.in/yaml.v2"
)

func init() {
	register("config-get", configGet, false, "smart")
	register("is-leader", isLeader, false, "smart")
	register("leader-get", leaderGet, false, "smart")
	register("leader-set", leaderSet, true, "")
	register("status-set", statusSet, true, "")
	register("status-get", statusGet, false, "smart")
	register("application-version-set", appVersionSet, true, "")
	register("action-get", actionGet, false, "smart")
	register("action-set", actionSet, true, "")
	register("action-fail", actionFail, true, "")
	register("action-log", actionLog, true, "")
	register("network-get", networkGet, false, "smart")
	register("unit-get", unitGet, false, "smart")
	register("storage-get", storageGet, false, "smart")
	register("storage-list", storageList, false, "smart")
	register("storage-add", storageAdd, true, "")
	register("open-port", func(c *call) error { return portOp(c, true) }, true, "")
	register("close-port", func(c *call) error { return portOp(c, false) }, true, "")
	register("opened-ports", openedPorts, false, "smart")
	registry["juju-log"] = toolSpec{fn: jujuLog, noState: true}
	register("state-get", stateGet, false, "smart")
	register("state-set", stateSet, true, "")
	register("state-delete", stateDelete, true, "")
	register("goal-state", goalState, false, "yaml")
	register("credential-get", credentialGet, false, "smart")
}

// ConfigValue converts a stored (JSON-decoded) value to its option type.
func ConfigValue(typ string, v any) any {
	if f, ok := v.(float64); ok && typ == "int" && f == math.Trunc(f) {
		return int64(f)
	}
	return v
}

// EffectiveConfig is the app's settings: set values over non-nil defaults (all adds nils).
func EffectiveConfig(app *state.App, all bool) map[string]any {
	res := map[string]any{}
	for k, t := range app.ConfigTypes {
		if v, ok := app.Config[k]; ok && v != nil {
			res[k] = ConfigValue(t, v)
		} else if d := app.ConfigDefaults[k]; d != nil {
			res[k] = ConfigValue(t, d)
		} else if all {
			res[k] = nil
		}
	}
	return res
}

func configGet(c *call) error {
	var all bool
	c.fs.Bool(&all, "a", "all")
	if err := c.parse(); err != nil {
		return err
	}
	args := c.fs.Args
	key := ""
	if len(args) > 0 {
		key, args = args[0], args[1:]
	}
	if err := cmdline.CheckEmpty(args); err != nil {
		return err
	}
	if all && key != "" {
		return cmdline.Usagef("cannot use argument --all together with key %q", key)
	}
	cfg := EffectiveConfig(c.app, all)
	if key == "" {
		return c.write(cfg)
	}
	return c.write(cfg[key])
}

func isLeader(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	if err := cmdline.CheckEmpty(c.fs.Args); err != nil {
		return err
	}
	return c.write(c.isLeader())
}

func leaderGet(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	args := c.fs.Args
	key := ""
	if len(args) > 0 {
		key, args = args[0], args[1:]
		if key == "-" {
			key = ""
		}
	}
	if err := cmdline.CheckEmpty(args); err != nil {
		return err
	}
	settings := copyMap(c.app.LeaderSettings)
	if key == "" {
		return c.write(settings)
	}
	v, ok := settings[key]
	if !ok {
		return c.write(nil)
	}
	return c.write(v)
}

func leaderSet(c *call) error {
	var file string
	c.fs.String(&file, "file")
	if err := c.parse(); err != nil {
		return err
	}
	kv, err := parseKeyValues(c.fs.Args)
	if err != nil {
		return cmdline.Usagef("%v", err)
	}
	if !c.isLeader() {
		return fmt.Errorf("cannot write leadership settings: cannot write settings: not the leader")
	}
	if c.app.LeaderSettings == nil {
		c.app.LeaderSettings = map[string]string{}
	}
	changed := false
	for k, v := range kv {
		old, had := c.app.LeaderSettings[k]
		if v == "" {
			if had {
				delete(c.app.LeaderSettings, k)
				changed = true
			}
			continue
		}
		if !had || old != v {
			c.app.LeaderSettings[k] = v
			changed = true
		}
	}
	if changed {
		for _, u := range c.m.UnitsOf(c.app.Name) {
			if u.Name != c.u.Name && u.Life == "alive" && u.Installed {
				u.Enqueue(state.Event{Kind: "leader-settings-changed"})
			}
		}
	}
	return nil
}

var validStatus = []string{"maintenance", "blocked", "waiting", "active"}

func statusSet(c *call) error {
	var application bool
	c.fs.Bool(&application, "application")
	if err := c.parse(); err != nil {
		return err
	}
	args := c.fs.Args
	if len(args) < 1 {
		return cmdline.Usagef("invalid args, require <status> [message] [data]")
	}
	ok := false
	for _, s := range validStatus {
		if args[0] == s {
			ok = true
		}
	}
	if !ok {
		return cmdline.Usagef("invalid status %q, expected one of [%s]", args[0], strings.Join(validStatus, " "))
	}
	msg := ""
	if len(args) > 1 {
		msg = args[1]
		if err := cmdline.CheckEmpty(args[2:]); err != nil {
			return err
		}
	}
	st := state.Status{Current: args[0], Message: msg, Since: time.Now().UTC()}
	if application {
		if !c.isLeader() {
			return fmt.Errorf("this unit is not the leader")
		}
		c.app.Status = st
		return nil
	}
	c.u.Workload = st
	return nil
}

func statusMap(s state.Status, data bool) map[string]any {
	cur := s.Current
	if cur == "" {
		cur = "unknown"
	}
	res := map[string]any{"status": cur}
	if data {
		res["message"] = s.Message
		d := s.Data
		if d == nil {
			d = map[string]any{}
		}
		res["status-data"] = d
	}
	return res
}

func statusGet(c *call) error {
	var data, application bool
	c.fs.Bool(&data, "include-data")
	c.fs.Bool(&application, "application")
	if err := c.parse(); err != nil {
		return err
	}
	if err := cmdline.CheckEmpty(c.fs.Args); err != nil {
		return err
	}
	if application {
		if !c.isLeader() {
			return fmt.Errorf("finding application status: this unit is not the leader")
		}
		as := statusMap(c.app.Status, true)
		units := map[string]any{}
		for _, u := range c.m.UnitsOf(c.app.Name) {
			units[u.Name] = statusMap(u.Workload, true)
		}
		as["units"] = units
		return c.write(map[string]any{"application-status": as})
	}
	if !data && c.out.Format == "smart" {
		return c.write(statusMap(c.u.Workload, false)["status"])
	}
	return c.write(statusMap(c.u.Workload, data))
}

func appVersionSet(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	if len(c.fs.Args) == 0 {
		return cmdline.Usagef("no version specified")
	}
	if err := cmdline.CheckEmpty(c.fs.Args[1:]); err != nil {
		return err
	}
	c.app.Version = c.fs.Args[0]
	return nil
}

func (c *call) action() (*state.Action, error) {
	if c.hc.Event.Kind != "action" {
		return nil, fmt.Errorf("not running an action")
	}
	a := c.m.Actions[c.hc.Event.Action]
	if a == nil {
		return nil, fmt.Errorf("not running an action")
	}
	return a, nil
}

func actionGet(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	a, err := c.action()
	if err != nil {
		return err
	}
	args := c.fs.Args
	if len(args) == 0 {
		p := a.Params
		if p == nil {
			p = map[string]any{}
		}
		return c.write(p)
	}
	if err := cmdline.CheckEmpty(args[1:]); err != nil {
		return err
	}
	var cur any = a.Params
	for _, k := range strings.Split(args[0], ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return c.write(nil)
		}
		if cur, ok = m[k]; !ok {
			return c.write(nil)
		}
	}
	return c.write(cur)
}

var keyRule = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$`)

func actionSet(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	type kv struct {
		keys  []string
		value string
	}
	var sets []kv
	for _, arg := range c.fs.Args {
		k, v, ok := strings.Cut(arg, "=")
		if !ok || k == "" {
			return cmdline.Usagef("argument %q must be of the form key...=value", arg)
		}
		keys := strings.Split(k, ".")
		for _, seg := range keys {
			if !keyRule.MatchString(seg) {
				return cmdline.Usagef("key %q must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods", seg)
			}
		}
		switch keys[0] {
		case "stdout", "stdout-encoding", "stderr", "stderr-encoding":
			return cmdline.Usagef("cannot set reserved action key %q", keys[0])
		}
		sets = append(sets, kv{keys, v})
	}
	a, err := c.action()
	if err != nil {
		return err
	}
	if a.Results == nil {
		a.Results = map[string]any{}
	}
	for _, s := range sets {
		m := a.Results
		for _, k := range s.keys[:len(s.keys)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
		m[s.keys[len(s.keys)-1]] = s.value
	}
	return nil
}

func actionFail(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	msg := "action failed without reason given, check action for errors"
	if len(c.fs.Args) > 0 {
		msg = c.fs.Args[0]
		if err := cmdline.CheckEmpty(c.fs.Args[1:]); err != nil {
			return err
		}
	}
	a, err := c.action()
	if err != nil {
		return err
	}
	a.Status = "failed"
	a.Message = msg
	return nil
}

func actionLog(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	if len(c.fs.Args) == 0 {
		return cmdline.Usagef("no message specified")
	}
	a, err := c.action()
	if err != nil {
		return err
	}
	a.Log = append(a.Log, state.ActionLog{Time: time.Now().UTC(), Message: strings.Join(c.fs.Args, " ")})
	return nil
}

type netAddress struct {
	Hostname string `yaml:"hostname,omitempty" json:"hostname,omitempty"`
	Value    string `yaml:"value" json:"value"`
	CIDR     string `yaml:"cidr" json:"cidr"`
	Address  string `yaml:"address" json:"-"`
}

type netInterface struct {
	MACAddress    string       `yaml:"mac-address" json:"mac-address"`
	InterfaceName string       `yaml:"interface-name" json:"interface-name"`
	Addresses     []netAddress `yaml:"addresses" json:"addresses"`
	MACLegacy     string       `yaml:"macaddress" json:"-"`
	IfaceLegacy   string       `yaml:"interfacename" json:"-"`
}

type netInfo struct {
	BindAddresses    []netInterface `yaml:"bind-addresses,omitempty" json:"bind-addresses,omitempty"`
	EgressSubnets    []string       `yaml:"egress-subnets,omitempty" json:"egress-subnets,omitempty"`
	IngressAddresses []string       `yaml:"ingress-addresses,omitempty" json:"ingress-addresses,omitempty"`
}

// MACAddress is the MAC of the machine's eth0 with address ip (the machine package makes it
// from the address, so network-get reports what the machine has).
func MACAddress(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	return machine.MAC(a)
}

func networkGet(c *call) error {
	rf := c.relationFlag()
	var bind, ingress, egress, primary bool
	c.fs.Bool(&bind, "bind-address")
	c.fs.Bool(&ingress, "ingress-address")
	c.fs.Bool(&egress, "egress-subnets")
	c.fs.Bool(&primary, "primary-address")
	if err := c.parse(); err != nil {
		return err
	}
	args := c.fs.Args
	if len(args) < 1 {
		return cmdline.Usagef("no arguments specified")
	}
	binding := args[0]
	if err := cmdline.CheckEmpty(args[1:]); err != nil {
		return err
	}
	if primary && (bind || ingress || egress) {
		return cmdline.Usagef("--primary-address must be the only flag specified")
	}
	known := binding == "juju-info"
	if _, ok := c.app.Endpoints[binding]; ok {
		known = true
	}
	for _, b := range c.app.ExtraBindings {
		if b == binding {
			known = true
		}
	}
	if !known {
		return fmt.Errorf("no network config found for binding %q", binding)
	}
	_ = rf
	mc := c.machine()
	if mc == nil || mc.Addr == "" {
		return fmt.Errorf("no addresses attached to space for binding %q", binding)
	}
	cidr := mc.Addr + "/" + strconv.Itoa(mc.Prefix)
	if ctrl := c.st.Controllers[c.m.Controller]; ctrl != nil {
		cidr = ctrl.Subnet
	}
	eg := egressSubnets(c.m, mc)
	if primary {
		return c.write(mc.Addr)
	}
	flags := 0
	for _, b := range []bool{bind, ingress, egress} {
		if b {
			flags++
		}
	}
	if flags == 1 {
		switch {
		case bind, ingress:
			return c.write(mc.Addr)
		default:
			return c.write(eg)
		}
	}
	if flags > 1 {
		res := map[string]any{}
		if bind {
			res["bind-address"] = mc.Addr
		}
		if ingress {
			res["ingress-address"] = mc.Addr
		}
		if egress {
			res["egress-subnets"] = eg
		}
		return c.write(res)
	}
	mac := MACAddress(mc.Addr)
	info := netInfo{
		BindAddresses: []netInterface{{
			MACAddress: mac, InterfaceName: "eth0", MACLegacy: mac, IfaceLegacy: "eth0",
			Addresses: []netAddress{{Value: mc.Addr, CIDR: cidr, Address: mc.Addr}},
		}},
		EgressSubnets:    eg,
		IngressAddresses: []string{mc.Addr},
	}
	return c.write(info)
}

func unitGet(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	args := c.fs.Args
	if len(args) < 1 {
		return cmdline.Usagef("no setting specified")
	}
	if args[0] != "private-address" && args[0] != "public-address" {
		return cmdline.Usagef("unknown setting %q", args[0])
	}
	if err := cmdline.CheckEmpty(args[1:]); err != nil {
		return err
	}
	mc := c.machine()
	if mc == nil || mc.Addr == "" {
		if args[0] == "public-address" {
			return fmt.Errorf("public address not found")
		}
		return fmt.Errorf("private address not found")
	}
	return c.write(mc.Addr)
}

var storageIDRe = regexp.MustCompile(`^[a-z][a-z0-9-]*/[0-9]+$`)

func storageGet(c *call) error {
	id := c.hc.Event.Storage
	c.fs.Func(func(v string) error {
		if !storageIDRe.MatchString(v) {
			return fmt.Errorf("invalid storage ID %q", v)
		}
		s := c.m.Storage[v]
		if s == nil || s.Unit != c.u.Name {
			return errors.New("storage not found")
		}
		id = v
		return nil
	}, "s")
	if err := c.parse(); err != nil {
		return err
	}
	args := c.fs.Args
	key := ""
	if len(args) > 0 {
		key, args = args[0], args[1:]
		if key != "kind" && key != "location" {
			return cmdline.Usagef("invalid storage attribute %q", key)
		}
	}
	if err := cmdline.CheckEmpty(args); err != nil {
		return err
	}
	if id == "" {
		return cmdline.Usagef("no storage instance specified")
	}
	s := c.m.Storage[id]
	if s == nil {
		return fmt.Errorf("storage %q not found", id)
	}
	v := map[string]string{"kind": s.Kind, "location": s.Location}
	if key != "" {
		return c.write(v[key])
	}
	return c.write(v)
}

func storageList(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	args := c.fs.Args
	name := ""
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	if err := cmdline.CheckEmpty(args); err != nil {
		return err
	}
	ids := []string{}
	for id, s := range c.m.Storage {
		if s.Unit == c.u.Name && (name == "" || s.Name == name) {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return state.UnitLess(ids[i], ids[j]) })
	return c.write(ids)
}

func storageAdd(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	if len(c.fs.Args) == 0 {
		return cmdline.Usagef("storage add requires a storage directive")
	}
	adds := map[string]int{}
	for _, a := range c.fs.Args {
		name, cnt, hasCount := strings.Cut(a, "=")
		n := 1
		if hasCount {
			var err error
			if n, err = strconv.Atoi(cnt); err != nil || n < 1 {
				return cmdline.Usagef("cannot parse count: %q", cnt)
			}
		}
		if _, ok := c.app.StorageMeta[name]; !ok {
			return fmt.Errorf("storage %q not found", name)
		}
		adds[name] += n
	}
	if c.hc.StorageAdd == nil {
		c.hc.StorageAdd = map[string]int{}
	}
	for k, n := range adds {
		c.hc.StorageAdd[k] += n
	}
	return nil
}

// ParsePort normalises a port spec ("80", "80/tcp", "1000-2000/udp", "icmp").
func ParsePort(spec string) (string, error) {
	ports, proto, hasProto := strings.Cut(spec, "/")
	if !hasProto {
		proto = "tcp"
		if ports == "icmp" {
			return "icmp", nil
		}
	}
	proto = strings.ToLower(proto)
	switch proto {
	case "tcp", "udp":
	case "icmp":
		return "", fmt.Errorf("protocol \"icmp\" doesn't support any ports; got %q", ports)
	default:
		return "", fmt.Errorf("invalid protocol %q, expected \"tcp\", \"udp\", or \"icmp\"", proto)
	}
	from, to, isRange := strings.Cut(ports, "-")
	f, err1 := strconv.Atoi(from)
	t := f
	var err2 error
	if isRange {
		t, err2 = strconv.Atoi(to)
	}
	if err1 != nil || err2 != nil {
		return "", fmt.Errorf("invalid port %q", ports)
	}
	if f < 1 || f > 65535 || t < 1 || t > 65535 || t < f {
		return "", fmt.Errorf("port range bounds must be between 1 and 65535, got %d-%d", f, t)
	}
	if isRange && f != t {
		return fmt.Sprintf("%d-%d/%s", f, t, proto), nil
	}
	return fmt.Sprintf("%d/%s", f, proto), nil
}

func portOp(c *call, open bool) error {
	var eps string
	c.fs.String(&eps, "endpoints")
	if err := c.parse(); err != nil {
		return err
	}
	args := c.fs.Args
	if len(args) != 1 {
		return cmdline.Usagef("%s requires a port or range argument", c.name)
	}
	spec, err := ParsePort(args[0])
	if err != nil {
		return cmdline.Usagef("%v", err)
	}
	var epList []string
	if eps != "" {
		for _, e := range strings.Split(eps, ",") {
			if e = strings.TrimSpace(e); e != "" {
				epList = append(epList, e)
			}
		}
	}
	c.hc.PortOps = append(c.hc.PortOps, state.PortOp{Open: open, Port: spec, Endpoints: epList})
	return nil
}

func openedPorts(c *call) error {
	var eps bool
	c.fs.Bool(&eps, "endpoints")
	if err := c.parse(); err != nil {
		return err
	}
	if err := cmdline.CheckEmpty(c.fs.Args); err != nil {
		return err
	}
	ports := append([]string{}, c.u.Ports...)
	SortPorts(ports)
	if eps {
		for i, p := range ports {
			e := c.u.PortEPs[p]
			if e == "" {
				e = "*"
			}
			ports[i] = p + " (" + e + ")"
		}
	}
	return c.write(ports)
}

// SortPorts orders port specs by protocol then number, as Juju lists them.
func SortPorts(ports []string) {
	key := func(p string) (string, int) {
		n, proto, _ := strings.Cut(p, "/")
		from, _, _ := strings.Cut(n, "-")
		v, _ := strconv.Atoi(from)
		return proto, v
	}
	sort.Slice(ports, func(i, j int) bool {
		pi, ni := key(ports[i])
		pj, nj := key(ports[j])
		if pi != pj {
			return pi < pj
		}
		return ni < nj
	})
}

var logLevels = map[string]bool{"TRACE": true, "DEBUG": true, "INFO": true, "WARNING": true, "ERROR": true, "CRITICAL": true}

func jujuLog(c *call) error {
	var level string
	var debug bool
	c.fs.String(&level, "l", "log-level")
	c.fs.Bool(&debug, "debug")
	// juju-log also accepts --format (ignored).
	var f string
	c.fs.String(&f, "format")
	if err := c.parse(); err != nil {
		return err
	}
	if len(c.fs.Args) == 0 {
		return cmdline.Usagef("no message specified")
	}
	level = strings.ToUpper(level)
	if debug {
		level = "DEBUG"
	}
	if !logLevels[level] {
		level = "INFO"
	}
	msg := strings.Join(c.fs.Args, " ")
	if rel := os.Getenv("JUJU_RELATION_ID"); rel != "" {
		msg = rel + ": " + msg
	}
	unit := os.Getenv("JUJU_UNIT_NAME")
	model := os.Getenv("JUJU_MODEL_NAME")
	line := lineFor(model, unit, level, msg)
	c.home = homeDir()
	appendLog(c.home, line)
	if id := os.Getenv("JUJU_CONTEXT_ID"); id != "" {
		appendCtxLog(c.home, id, level+" "+msg)
	}
	return nil
}

func stateGet(c *call) error {
	var strict bool
	c.fs.Bool(&strict, "strict")
	if err := c.parse(); err != nil {
		return err
	}
	args := c.fs.Args
	key := ""
	if len(args) > 0 {
		key, args = args[0], args[1:]
		if key == "-" {
			key = ""
		}
	}
	if err := cmdline.CheckEmpty(args); err != nil {
		return err
	}
	cs := copyMap(c.u.State)
	for k, v := range c.hc.StateSets {
		if v == nil {
			delete(cs, k)
		} else {
			cs[k] = *v
		}
	}
	if key == "" {
		if len(cs) == 0 {
			return c.write(nil)
		}
		return c.write(cs)
	}
	v, ok := cs[key]
	if !ok && strict {
		return fmt.Errorf("%q not found", key)
	}
	return c.write(v)
}

const (
	maxStateKey   = 256
	maxStateValue = 64 * 1024
)

func stateSet(c *call) error {
	var file string
	c.fs.String(&file, "file")
	if err := c.parse(); err != nil {
		return err
	}
	kv, err := parseKeyValues(c.fs.Args)
	if err != nil {
		return cmdline.Usagef("%v", err)
	}
	settings := map[string]string{}
	if file != "" {
		data, err := c.readFileArg(file)
		if err != nil {
			return err
		}
		if err := yaml.Unmarshal(data, &settings); err != nil {
			return fmt.Errorf("cannot parse state file: %v", err)
		}
	}
	for k, v := range kv {
		settings[k] = v
	}
	if c.hc.StateSets == nil {
		c.hc.StateSets = map[string]*string{}
	}
	for k, v := range settings {
		if len(k) > maxStateKey {
			return fmt.Errorf("key too large: %d bytes, max %d", len(k), maxStateKey)
		}
		if len(v) > maxStateValue {
			return fmt.Errorf("value too large: %d bytes, max %d", len(v), maxStateValue)
		}
		if v == "" {
			c.hc.StateSets[k] = nil
			continue
		}
		v := v
		c.hc.StateSets[k] = &v
	}
	return nil
}

func stateDelete(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	if len(c.fs.Args) == 0 {
		return cmdline.Usagef("no key specified")
	}
	if err := cmdline.CheckEmpty(c.fs.Args[1:]); err != nil {
		return err
	}
	if c.hc.StateSets == nil {
		c.hc.StateSets = map[string]*string{}
	}
	c.hc.StateSets[c.fs.Args[0]] = nil
	return nil
}

type goalStatus struct {
	Status string `yaml:"status" json:"status"`
	Since  string `yaml:"since,omitempty" json:"since,omitempty"`
}

func goalState(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	if err := cmdline.CheckEmpty(c.fs.Args); err != nil {
		return err
	}
	since := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }
	unitStatus := func(u *state.Unit) goalStatus {
		s := "active"
		if u.Life != "alive" {
			s = "dying"
		} else if !u.Started {
			s = "waiting"
		}
		return goalStatus{Status: s, Since: since(u.Agent.Since)}
	}
	units := map[string]goalStatus{}
	for _, u := range c.m.UnitsOf(c.u.App) {
		units[u.Name] = unitStatus(u)
	}
	rels := map[string]map[string]goalStatus{}
	for _, r := range c.st.RelationsOfApp(c.m.UUID, c.u.App) {
		side := r.SideOf(c.m.UUID, c.u.App)
		s := r.Sides[side]
		o := r.Sides[r.Other(side)]
		if rels[s.Endpoint] == nil {
			rels[s.Endpoint] = map[string]goalStatus{}
		}
		rels[s.Endpoint][o.Alias] = goalStatus{Status: "joined"}
		if om := c.st.Models[o.Model]; om != nil {
			for _, u := range om.UnitsOf(o.App) {
				if r.Peer && u.Name == c.u.Name {
					continue
				}
				gs := unitStatus(u)
				rels[s.Endpoint][r.RemoteName(r.Other(side), u.Name)] = gs
			}
		}
	}
	return c.write(map[string]any{"units": units, "relations": rels})
}

func credentialGet(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	return fmt.Errorf("cannot access cloud credentials: jujusim has no cloud (use \"juju trust\" on a real controller)")
}
