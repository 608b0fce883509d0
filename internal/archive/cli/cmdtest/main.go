// Command cmdtest runs the archive subcommands alone (`cmdtest wal-push PATH`), so that the
// archive engine's tests and benchmarks need not build the whole charm binary.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/pgcharm/postgresql/internal/archive/cli"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintf(os.Stderr, "usage: %s COMMAND ARGS... (commands: %v)\n", os.Args[0], cli.Commands())
		os.Exit(cli.ExitUsage)
	}
	os.Exit(cli.Run(context.Background(), os.Args[1], os.Args[2:], os.Stdout, os.Stderr))
}
