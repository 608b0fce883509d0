package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/hooklog"
)

func init() {
	reg("debug-log", "[--include UNIT] [-n LINES] [--all-models] [--tail]  (the current model's log, or -m MODEL; --tail follows)", cmdDebugLog)
}

func cmdDebugLog(c *env) error {
	var include []string
	var lines int
	var replay, noTail, allModels, tail bool
	c.fs.Bool(&tail, "tail")
	var level string
	c.fs.Bool(&allModels, "all-models")
	c.fs.StringList(&include, "i", "include")
	c.fs.Int(&lines, "n", "lines")
	c.fs.Bool(&replay, "replay")
	c.fs.Bool(&noTail, "no-tail")
	c.fs.String(&level, "l", "level")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 0, 0, "debug-log"); err != nil {
		return err
	}
	var paths []string
	if allModels {
		paths, _ = filepath.Glob(filepath.Join(c.e.Home, "logs", "*.log"))
	} else {
		uuid, err := c.e.ResolveModel(c.ref())
		if err != nil {
			return err
		}
		paths = []string{hooklog.Path(c.e.Home, uuid)}
	}
	var all []string
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		all = append(all, strings.Split(strings.TrimRight(string(data), "\n"), "\n")...)
	}
	var out []string
	for _, l := range all {
		if l == "" {
			continue
		}
		if len(include) > 0 {
			ok := false
			for _, inc := range include {
				tag := "unit-" + strings.ReplaceAll(inc, "/", "-") + ":"
				if strings.HasPrefix(l, tag) || strings.HasPrefix(l, inc+":") {
					ok = true
				}
			}
			if !ok {
				continue
			}
		}
		out = append(out, l)
	}
	if lines > 0 && len(out) > lines {
		out = out[len(out)-lines:]
	}
	for _, l := range out {
		fmt.Fprintln(c.stdout, l)
	}
	if !tail || allModels || len(paths) != 1 {
		return nil
	}
	return follow(c, paths[0], include)
}

// follow prints lines appended to a model's log until interrupted (debug-log --tail).
func follow(c *env, path string, include []string) error {
	var off int64
	if st, err := os.Stat(path); err == nil {
		off = st.Size()
	}
	var partial string
	for {
		select {
		case <-c.ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		st, err := f.Stat()
		if err != nil || st.Size() <= off {
			f.Close()
			continue
		}
		buf := make([]byte, st.Size()-off)
		n, _ := f.ReadAt(buf, off)
		f.Close()
		off += int64(n)
		text := partial + string(buf[:n])
		lines := strings.Split(text, "\n")
		partial = lines[len(lines)-1]
		for _, l := range lines[:len(lines)-1] {
			if matchInclude(l, include) {
				fmt.Fprintln(c.stdout, l)
			}
		}
	}
}

func matchInclude(l string, include []string) bool {
	if len(include) == 0 {
		return true
	}
	for _, inc := range include {
		if strings.HasPrefix(l, "unit-"+strings.ReplaceAll(inc, "/", "-")+":") || strings.HasPrefix(l, inc+":") {
			return true
		}
	}
	return false
}
