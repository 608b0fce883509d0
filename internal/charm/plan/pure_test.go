package plan

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Deciding is pure: plan, and every package of this module it builds on, does no I/O, so
// every decision can be tested exhaustively without a server, a file system or Juju.
// These tests hold the line with `go list -deps`, which sees exactly what gets compiled in.

const module = "github.com/pgcharm/postgresql"

// ioPackages do I/O; no package plan depends on may reach them, even through a
// third-party library.
var ioPackages = map[string]bool{
	"net": true, "net/http": true, "os/exec": true, "os/signal": true, "os/user": true,
	"database/sql": true, "golang.org/x/sys/unix": true,
}

// ioPrefixes are module paths that do I/O: the PostgreSQL driver, the hook-tool client,
// and this module's packages that talk to servers, files and Juju.
var ioPrefixes = []string{
	"github.com/jackc/pgx", "github.com/gruyaume/goops",
	module + "/internal/postgres", module + "/internal/archive", module + "/internal/safefs",
	module + "/internal/jujusim", module + "/internal/storetest", module + "/internal/charm",
}

// directIO are standard packages a package of this module must not import itself: the
// file system, the process and entropy. (fmt imports os, so they are only checked as
// direct imports.)
var directIO = map[string]bool{
	"os": true, "io/ioutil": true, "io/fs": true, "path/filepath": true, "syscall": true,
	"crypto/rand": true, "log": true,
}

type listed struct {
	ImportPath string
	Imports    []string
	Standard   bool
}

func goList(t *testing.T, pkg string) []listed {
	t.Helper()
	gobin := "go"
	if root := os.Getenv("GOROOT"); root != "" {
		gobin = filepath.Join(root, "bin", "go")
	}
	cmd := exec.Command(gobin, "list", "-deps", "-json", pkg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v: %s", pkg, err, stderr.String())
	}
	var pkgs []listed
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// ioImports lists how pkg (a path inside this module, or a pattern go list takes) reaches
// I/O: an I/O package anywhere among its dependencies, or a package of this module among
// them that imports the file system, process or entropy itself.
func ioImports(t *testing.T, pkg string) []string {
	var bad []string
	for _, p := range goList(t, pkg) {
		if ioPackages[p.ImportPath] {
			bad = append(bad, p.ImportPath)
		}
		for _, pre := range ioPrefixes {
			if p.ImportPath == pre || strings.HasPrefix(p.ImportPath, pre+"/") {
				if p.ImportPath != module+"/internal/charm/plan" {
					bad = append(bad, p.ImportPath)
				}
			}
		}
		if p.ImportPath == module || strings.HasPrefix(p.ImportPath, module+"/") {
			for _, imp := range p.Imports {
				if directIO[imp] {
					bad = append(bad, p.ImportPath+" imports "+imp)
				}
			}
		}
	}
	return bad
}

func TestPlanDoesNoIO(t *testing.T) {
	if bad := ioImports(t, module+"/internal/charm/plan"); len(bad) > 0 {
		t.Errorf("plan reaches packages that do I/O: %s\nmove the plain data types it needs to a pure leaf package (like internal/wal, internal/hba, internal/roles)",
			strings.Join(bad, ", "))
	}
}

// TestPureCheckCatchesIO runs the same check on packages that do I/O, so that a check
// broken into always passing would fail here.
func TestPureCheckCatchesIO(t *testing.T) {
	for pkg, want := range map[string]string{
		module + "/internal/postgres": "github.com/jackc/pgx/v5",
		module + "/internal/safefs":   module + "/internal/safefs imports os",
	} {
		bad := ioImports(t, pkg)
		found := false
		for _, b := range bad {
			found = found || b == want
		}
		if !found {
			t.Errorf("the check on %s found %v, not %s", pkg, bad, want)
		}
	}
}
