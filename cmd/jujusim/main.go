// Command jujusim is a local Juju substrate for tests and the demo: controllers, models and
// units whose machines are system containers (systemd as PID 1 in Linux namespaces). Invoked
// under a hook tool's name (relation-get, status-set, ...) it is that hook tool, and as
// juju-exec (on a machine) it is Juju's juju-exec.
package main

import (
	"os"
	"path/filepath"

	"github.com/pgcharm/postgresql/internal/jujusim/cli"
	"github.com/pgcharm/postgresql/internal/jujusim/tools"
)

func main() {
	name := filepath.Base(os.Args[0])
	if name == "juju-exec" {
		os.Exit(cli.JujuExecMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	if tools.IsTool(name) {
		os.Exit(tools.Main(name, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
