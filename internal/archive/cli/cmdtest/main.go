// Command cmdtest runs the archive subcommands alone (`cmdtest wal-push PATH`), so that the
// archive engine's tests and benchmarks need not build the whole charm binary.
//
// ARCHIVE_CPUPROFILE=FILE writes a CPU profile of the command to FILE (the benchmarks run it
// as a separate process, as PostgreSQL and the charm do, so a test's -cpuprofile never sees it).
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/pgcharm/postgresql/internal/archive/cli"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintf(os.Stderr, "usage: %s COMMAND ARGS... (commands: %v)\n", os.Args[0], cli.Commands())
		os.Exit(cli.ExitUsage)
	}
	if p := os.Getenv("ARCHIVE_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "ARCHIVE_CPUPROFILE: %v\n", err)
			os.Exit(1)
		}
		code := cli.Run(context.Background(), os.Args[1], os.Args[2:], os.Stdout, os.Stderr)
		pprof.StopCPUProfile()
		f.Close()
		os.Exit(code)
	}
	os.Exit(cli.Run(context.Background(), os.Args[1], os.Args[2:], os.Stdout, os.Stderr))
}
