// Command postgresql-charm is the whole charm: Juju runs it as dispatch (or through the
// hooks/<name> and actions/<name> symlinks), and PostgreSQL and cron run it with a
// subcommand (wal-push, wal-fetch, backup-push, ...) as user postgres.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/pgcharm/postgresql/internal/charm"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// subcommand runs one command-line face of the binary and returns its exit code.
type subcommand func(ctx context.Context, name string, args []string, stdout, stderr io.Writer) int

// subcommands are the faces other than hooks and actions; files in this package register
// theirs from init so that each concern stays in its own package.
var subcommands = map[string]subcommand{}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Getenv("JUJU_DISPATCH_PATH"), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run picks the face. Juju starts the charm with no arguments, so any argument means a
// person, PostgreSQL or cron; this also keeps an archive_command working when the server
// inherited a hook's environment.
func run(ctx context.Context, argv []string, dispatchPath string, stdout, stderr io.Writer) int {
	if len(argv) > 1 {
		return runSubcommand(ctx, argv[1], argv[2:], stdout, stderr)
	}
	kind, name := target(dispatchPath, argv[0])
	switch kind {
	case "hooks":
		return charm.RunHook(ctx, name)
	case "actions":
		return charm.RunAction(ctx, name)
	}
	usage(stderr)
	return 2
}

// target splits the dispatch path, or failing that the path the binary was started as,
// into its kind ("hooks", "actions" or anything else) and name.
func target(dispatchPath, argv0 string) (kind, name string) {
	p := dispatchPath
	if p == "" {
		p = argv0
	}
	return filepath.Base(filepath.Dir(p)), filepath.Base(p)
}

func runSubcommand(ctx context.Context, name string, args []string, stdout, stderr io.Writer) int {
	switch name {
	case "--version", "version":
		fmt.Fprintln(stdout, "postgresql-charm", version)
		return 0
	case "--help", "-h", "help":
		usage(stdout)
		return 0
	}
	cmd, ok := subcommands[name]
	if !ok {
		fmt.Fprintf(stderr, "postgresql-charm: unknown command %q\n", name)
		usage(stderr)
		return 2
	}
	return cmd(ctx, name, args, stdout, stderr)
}

func usage(w io.Writer) {
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, `postgresql-charm %s: the PostgreSQL charm for Juju.

Juju runs this binary as the charm's dispatch, hooks/<name> or actions/<name>.
PostgreSQL and cron run it as user postgres with one of these commands:
`, version)
	for _, n := range names {
		fmt.Fprintf(w, "  %s\n", n)
	}
	fmt.Fprintln(w, `
  --version   print the version
  --help      print this text`)
}
