package tools

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

func init() {
	register("storage-get", storageGet, false, "smart")
	register("storage-list", storageList, false, "smart")
	register("storage-add", storageAdd, true, "")
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
	if s == nil || s.Unit != c.u.Name {
		// A detached storage is gone for the unit, the hook's own after it committed
		// (worker/uniter/storage/attachments.go).
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
