package tools

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
	"gopkg.in/yaml.v2"
)

func init() {
	register("secret-add", secretAdd, true, "smart")
	register("secret-set", secretSet, true, "")
	register("secret-get", secretGet, true, "yaml")
	register("secret-ids", secretIDs, false, "yaml")
	register("secret-info-get", secretInfoGet, false, "yaml")
	register("secret-grant", func(c *call) error { return secretAccess(c, "grant") }, true, "")
	register("secret-revoke", func(c *call) error { return secretAccess(c, "revoke") }, true, "")
	register("secret-remove", secretRemove, true, "")
}

// NewSecretID returns a 20-character id like Juju's (xid, base32hex lower case).
func NewSecretID() string {
	const alphabet = "0123456789abcdefghijklmnopqrstuv"
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%32]
	}
	return string(b)
}

var secretURIRe = regexp.MustCompile(`^(secret:(//[0-9a-f-]+/)?)?[0-9a-v]{20}$`)

var secretKeyRe = regexp.MustCompile(`^[a-z](?:-?[a-z0-9]){2,}$`)

// secretContent parses k=v, k#base64=v and k#file=path arguments and --file.
func (c *call) secretContent(args []string, file string) (map[string]string, error) {
	content := map[string]string{}
	if file != "" {
		data, err := c.readFileArg(file)
		if err != nil {
			return nil, err
		}
		var m map[string]string
		if err := yaml.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("invalid secret file: %v", err)
		}
		for k, v := range m {
			content[k] = v
		}
	}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, cmdline.Usagef(`expected "key=value", got %q`, a)
		}
		key, suffix, _ := strings.Cut(k, "#")
		switch suffix {
		case "":
		case "base64":
			if _, err := base64.StdEncoding.DecodeString(v); err != nil {
				return nil, cmdline.Usagef("invalid base64 value for key %q", key)
			}
			key = key + "#base64"
		case "file":
			data, err := os.ReadFile(v)
			if err != nil {
				return nil, fmt.Errorf("reading content for secret key %q: %v", key, err)
			}
			v = string(data)
		default:
			return nil, cmdline.Usagef("invalid secret key %q", k)
		}
		content[key] = v
	}
	// Juju's rules (core/secrets): keys ^([a-z](?:-?[a-z0-9]){2,})$, each value at most
	// 8 KiB, the whole content at most 64 KiB; --file content is checked the same way.
	total := 0
	for _, key := range sortedStrings(content) {
		if k := strings.TrimSuffix(key, "#base64"); !secretKeyRe.MatchString(k) {
			return nil, cmdline.Usagef("invalid key %q", k)
		}
		if n := len(content[key]); n > maxSecretValue {
			return nil, fmt.Errorf("secret content for key %q too large: %d bytes (limit %d)", strings.TrimSuffix(key, "#base64"), n, maxSecretValue)
		}
		total += len(content[key])
	}
	if total > maxSecretContent {
		return nil, fmt.Errorf("secret content too large: %d bytes (limit %d)", total, maxSecretContent)
	}
	return content, nil
}

const (
	maxSecretValue   = 8 << 10
	maxSecretContent = 64 << 10
)

func sortedStrings(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

type secretOpts struct {
	owner, label, description, expire, rotate, file string
}

func (c *call) secretFlags(o *secretOpts) {
	c.fs.String(&o.owner, "owner")
	c.fs.String(&o.label, "label")
	c.fs.String(&o.description, "description")
	c.fs.String(&o.expire, "expire")
	c.fs.String(&o.rotate, "rotate")
	c.fs.String(&o.file, "file")
}

func validRotate(r string) bool {
	switch r {
	case "", "never", "hourly", "daily", "weekly", "monthly", "quarterly", "yearly":
		return true
	}
	return false
}

func strp(s string) *string { return &s }

// secretByRef finds a secret (committed or pending in this hook) by URI or id.
func (c *call) secretByRef(ref string) *state.Secret {
	id := strings.TrimPrefix(strings.TrimPrefix(ref, "secret://"), "secret:")
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		id = id[i+1:]
	}
	if s := c.hc.Pending[id]; s != nil {
		return s
	}
	for _, m := range c.st.Models {
		if s := m.Secrets[id]; s != nil {
			return s
		}
	}
	return nil
}

func (c *call) ownsSecret(s *state.Secret) bool {
	return s.OwnerUnit == c.u.Name || (s.OwnerApp == c.u.App && s.OwnerUnit == "")
}

func (c *call) canManage(s *state.Secret) error {
	if s.OwnerUnit == c.u.Name {
		return nil
	}
	if s.OwnerApp == c.u.App && s.OwnerUnit == "" {
		if !c.isLeader() {
			return fmt.Errorf("permission denied")
		}
		return nil
	}
	return fmt.Errorf("permission denied")
}

func secretAdd(c *call) error {
	var o secretOpts
	c.secretFlags(&o)
	if err := c.parse(); err != nil {
		return err
	}
	if o.owner == "" {
		o.owner = "application"
	}
	if o.owner != "application" && o.owner != "unit" {
		return cmdline.Usagef("secret owner %q not valid", o.owner)
	}
	if !validRotate(o.rotate) {
		return cmdline.Usagef("rotate policy %q not valid", o.rotate)
	}
	if o.expire != "" {
		if _, err := parseExpire(o.expire); err != nil {
			return cmdline.Usagef("%v", err)
		}
	}
	content, err := c.secretContent(c.fs.Args, o.file)
	if err != nil {
		return err
	}
	if len(content) == 0 {
		return cmdline.Usagef("missing secret value or filename")
	}
	if o.owner == "application" && !c.isLeader() {
		return fmt.Errorf("permission denied")
	}
	id := NewSecretID()
	s := &state.Secret{ID: id, Label: o.label, Description: o.description, Rotate: o.rotate, Expire: o.expire,
		Revisions: []state.SecretRevision{{Rev: 1, Content: content}}}
	if o.owner == "unit" {
		s.OwnerUnit = c.u.Name
	}
	s.OwnerApp = c.u.App
	if o.label != "" {
		for _, other := range c.m.Secrets {
			if other.Label == o.label && other.OwnerApp == s.OwnerApp && other.OwnerUnit == s.OwnerUnit {
				return fmt.Errorf("secret with label %q already exists", o.label)
			}
		}
	}
	if c.hc.Pending == nil {
		c.hc.Pending = map[string]*state.Secret{}
	}
	c.hc.Pending[id] = s
	c.hc.SecretOps = append(c.hc.SecretOps, state.SecretOp{Op: "add", ID: id})
	return c.write("secret:" + id)
}

func parseExpire(v string) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return time.Now().Add(d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("expire time or duration %q not valid", v)
	}
	return t, nil
}

func secretSet(c *call) error {
	var o secretOpts
	c.secretFlags(&o)
	if err := c.parse(); err != nil {
		return err
	}
	if len(c.fs.Args) < 1 {
		return cmdline.Usagef("missing secret URI")
	}
	if !validRotate(o.rotate) {
		return cmdline.Usagef("rotate policy %q not valid", o.rotate)
	}
	content, err := c.secretContent(c.fs.Args[1:], o.file)
	if err != nil {
		return err
	}
	s := c.secretByRef(c.fs.Args[0])
	if s == nil {
		return fmt.Errorf("secret %q not found", c.fs.Args[0])
	}
	if err := c.canManage(s); err != nil {
		return err
	}
	op := state.SecretOp{Op: "set", ID: s.ID}
	if len(content) > 0 {
		op.Content = content
	}
	if c.fs.Seen["label"] {
		op.Label = strp(o.label)
	}
	if c.fs.Seen["description"] {
		op.Description = strp(o.description)
	}
	if c.fs.Seen["rotate"] {
		op.Rotate = strp(o.rotate)
	}
	if c.fs.Seen["expire"] {
		op.Expire = strp(o.expire)
	}
	if p := c.hc.Pending[s.ID]; p != nil {
		// An update of a secret created in this hook merges into its creation
		// (worker/uniter/runner/context/secrets.go secretsChangeRecorder.update): it stays
		// revision 1.
		if op.Content != nil && len(p.Revisions) > 0 {
			p.Revisions[len(p.Revisions)-1].Content = op.Content
			op.Content = nil
		}
		applySecretSet(p, op)
		return nil
	}
	c.hc.SecretOps = append(c.hc.SecretOps, op)
	return nil
}

// applySecretSet applies a set op to s (used at commit and for pending secrets).
func applySecretSet(s *state.Secret, op state.SecretOp) {
	if op.Content != nil {
		s.Revisions = append(s.Revisions, state.SecretRevision{Rev: s.Latest() + 1, Content: op.Content})
	}
	if op.Label != nil {
		s.Label = *op.Label
	}
	if op.Description != nil {
		s.Description = *op.Description
	}
	if op.Rotate != nil {
		s.Rotate = *op.Rotate
	}
	if op.Expire != nil {
		s.Expire = *op.Expire
	}
}

// ApplySecretSet is applySecretSet for the engine's commit.
func ApplySecretSet(s *state.Secret, op state.SecretOp) { applySecretSet(s, op) }

func (c *call) granted(s *state.Secret) bool {
	if s.Grants == nil {
		return false
	}
	if rel, ok := s.Grants[c.u.Name]; ok && c.grantHolds(rel) {
		return true
	}
	rel, ok := s.Grants[c.u.App]
	return ok && c.grantHolds(rel)
}

func secretGet(c *call) error {
	var label string
	var peek, refresh bool
	c.fs.String(&label, "label")
	c.fs.Bool(&peek, "peek")
	c.fs.Bool(&refresh, "refresh")
	if err := c.parse(); err != nil {
		return err
	}
	args := c.fs.Args
	if peek && refresh {
		return cmdline.Usagef("specify one of --peek or --refresh but not both")
	}
	if len(args) == 0 && label == "" {
		return cmdline.Usagef("require either a secret URI or label")
	}
	var s *state.Secret
	key := ""
	if len(args) > 0 {
		if !secretURIRe.MatchString(args[0]) {
			return cmdline.Usagef("secret URI %q not valid", args[0])
		}
		s = c.secretByRef(args[0])
		if s == nil {
			return fmt.Errorf("secret %q not found", strings.TrimPrefix(args[0], "secret:"))
		}
		args = args[1:]
	} else {
		s = c.secretByLabel(label)
		if s == nil {
			return fmt.Errorf("secret %q not found", label)
		}
	}
	if len(args) > 0 {
		key, args = args[0], args[1:]
	}
	if err := cmdline.CheckEmpty(args); err != nil {
		return err
	}
	// Owners track a revision as consumers do (since Juju 3.1.7, juju#16598; apiserver/
	// facades/agent/secretsmanager/secrets.go getSecretContent and getConsumedRevision): the
	// first read records the latest revision, later reads return the tracked one, --peek
	// the latest and --refresh the latest, tracking it from then on. An owner's record has
	// no label (the secret's label is the owner's).
	owner := c.ownsSecret(s)
	if owner {
		if label != "" && len(c.fs.Args) > 0 && s.Label != label {
			s.Label = label
		}
	} else if !c.granted(s) {
		return fmt.Errorf("permission denied")
	}
	if s.Consumers == nil {
		s.Consumers = map[string]*state.Consumer{}
	}
	cons := s.Consumers[c.u.Name]
	if cons == nil {
		cons = &state.Consumer{Rev: s.Latest()}
		s.Consumers[c.u.Name] = cons
	}
	if label != "" && len(c.fs.Args) > 0 && !owner {
		cons.Label = label
	}
	rev := cons.Rev
	if peek || refresh {
		rev = s.Latest()
	}
	if refresh {
		cons.Rev = rev
	}
	content := s.Content(rev)
	if pending := c.pendingContent(s.ID); owner && pending != nil && (peek || refresh) {
		// The owner's own secret-set in this hook: --peek and --refresh see it
		// (worker/uniter/runner/context/context.go getPendingSecretValue), and --refresh
		// tracks the revision it makes once the hook commits (UpdateTrackedRevisions).
		content = pending
		if refresh {
			c.hc.SecretOps = append(c.hc.SecretOps, state.SecretOp{Op: "track", ID: s.ID, Subject: c.u.Name})
		}
	}
	out := map[string]string{}
	for k, v := range content {
		out[k] = v
	}
	if key != "" {
		if v, ok := out[key]; ok {
			return c.write(v)
		}
		if strings.HasSuffix(key, "#base64") {
			if v, ok := out[strings.TrimSuffix(key, "#base64")]; ok {
				return c.write(base64.StdEncoding.EncodeToString([]byte(v)))
			}
		} else if v, ok := out[key+"#base64"]; ok {
			d, _ := base64.StdEncoding.DecodeString(v)
			return c.write(string(d))
		}
		return fmt.Errorf("secret key %q not found", key)
	}
	// Values stored with #base64 are returned decoded under the plain key.
	for k, v := range out {
		if strings.HasSuffix(k, "#base64") {
			d, _ := base64.StdEncoding.DecodeString(v)
			delete(out, k)
			out[strings.TrimSuffix(k, "#base64")] = string(d)
		}
	}
	return c.write(out)
}

// pendingContent is the content of the last secret-set of id buffered in this hook (nil
// if none).
func (c *call) pendingContent(id string) map[string]string {
	var content map[string]string
	for _, op := range c.hc.SecretOps {
		if op.ID == id && op.Op == "set" && op.Content != nil {
			content = op.Content
		}
	}
	return content
}

func (c *call) secretByLabel(label string) *state.Secret {
	for _, s := range c.hc.Pending {
		if s.Label == label {
			return s
		}
	}
	for _, m := range c.st.Models {
		for _, s := range m.Secrets {
			if c.ownsSecret(s) && s.Label == label {
				return s
			}
			if cons := s.Consumers[c.u.Name]; cons != nil && cons.Label == label {
				return s
			}
		}
	}
	return nil
}

func (c *call) ownedSecrets() []*state.Secret {
	var ss []*state.Secret
	for _, s := range c.m.Secrets {
		if c.ownsSecret(s) {
			ss = append(ss, s)
		}
	}
	for _, s := range c.hc.Pending {
		ss = append(ss, s)
	}
	sort.Slice(ss, func(i, j int) bool { return ss[i].ID < ss[j].ID })
	return ss
}

func secretIDs(c *call) error {
	if err := c.parse(); err != nil {
		return err
	}
	if err := cmdline.CheckEmpty(c.fs.Args); err != nil {
		return err
	}
	ids := []string{}
	for _, s := range c.ownedSecrets() {
		ids = append(ids, "secret:"+s.ID)
	}
	return c.write(ids)
}

type secretInfo struct {
	Revision    int    `yaml:"revision" json:"revision"`
	Label       string `yaml:"label,omitempty" json:"label,omitempty"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	Owner       string `yaml:"owner" json:"owner"`
	Rotation    string `yaml:"rotation,omitempty" json:"rotation,omitempty"`
	Expiry      string `yaml:"expiry,omitempty" json:"expiry,omitempty"`
}

func secretInfoGet(c *call) error {
	var label string
	c.fs.String(&label, "label")
	if err := c.parse(); err != nil {
		return err
	}
	args := c.fs.Args
	if len(args) == 0 && label == "" {
		return cmdline.Usagef("require either a secret URI or label")
	}
	if len(args) > 0 && label != "" {
		return cmdline.Usagef("specify either a secret URI or label but not both")
	}
	var s *state.Secret
	if len(args) > 0 {
		if err := cmdline.CheckEmpty(args[1:]); err != nil {
			return err
		}
		s = c.secretByRef(args[0])
	} else {
		s = c.secretByLabel(label)
	}
	if s == nil || !c.ownsSecret(s) {
		ref := label
		if len(args) > 0 {
			ref = args[0]
		}
		return fmt.Errorf("secret %q not found", ref)
	}
	owner := "application"
	if s.OwnerUnit != "" {
		owner = "unit"
	}
	rot := s.Rotate
	if rot == "" {
		rot = "never"
	}
	return c.write(map[string]secretInfo{s.ID: {Revision: s.Latest(), Label: s.Label, Description: s.Description, Owner: owner, Rotation: rot, Expiry: s.Expire}})
}

func secretAccess(c *call, op string) error {
	rf := c.relationFlag()
	var unit, app string
	c.fs.String(&unit, "unit")
	if op == "revoke" {
		c.fs.String(&app, "app")
	}
	if err := c.parse(); err != nil {
		return err
	}
	args := c.fs.Args
	if len(args) < 1 {
		return cmdline.Usagef("missing secret URI")
	}
	if err := cmdline.CheckEmpty(args[1:]); err != nil {
		return err
	}
	if op == "grant" && !c.fs.Seen["r"] && !c.fs.Seen["relation"] {
		return cmdline.Usagef("missing relation")
	}
	s := c.secretByRef(args[0])
	if s == nil {
		return fmt.Errorf("secret %q not found", args[0])
	}
	if err := c.canManage(s); err != nil {
		return err
	}
	res := state.SecretOp{Op: op, ID: s.ID}
	if rf.rel != nil && (c.fs.Seen["r"] || c.fs.Seen["relation"]) {
		other := rf.rel.Sides[rf.rel.Other(rf.side)]
		res.Rel = rf.rel.Key
		res.Subject = other.App
		if unit != "" {
			real, ok := rf.rel.RealName(rf.rel.Other(rf.side), unit)
			if !ok {
				return fmt.Errorf("unit %q not in relation %s", unit, rf.relID())
			}
			res.Subject = real
		}
	} else if unit != "" {
		res.Subject = unit
	} else if app != "" {
		res.Subject = app
	}
	c.hc.SecretOps = append(c.hc.SecretOps, res)
	return nil
}

func secretRemove(c *call) error {
	var rev int
	c.fs.Int(&rev, "revision")
	if err := c.parse(); err != nil {
		return err
	}
	args := c.fs.Args
	if len(args) < 1 {
		return cmdline.Usagef("missing secret URI")
	}
	if err := cmdline.CheckEmpty(args[1:]); err != nil {
		return err
	}
	s := c.secretByRef(args[0])
	if s == nil {
		return fmt.Errorf("secret %q not found", args[0])
	}
	if err := c.canManage(s); err != nil {
		return err
	}
	if p := c.hc.Pending[s.ID]; p != nil && rev == 0 {
		delete(c.hc.Pending, s.ID)
		return nil
	}
	c.hc.SecretOps = append(c.hc.SecretOps, state.SecretOp{Op: "remove", ID: s.ID, Revision: rev})
	return nil
}
