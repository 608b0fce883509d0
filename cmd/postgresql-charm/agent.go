package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/pgcharm/postgresql/internal/agent"
)

// The agent face: systemd runs `postgresql-charm agent` as root on every unit
// (internal/charm/apply_agent.go installs the service).
func init() {
	subcommands["agent"] = func(ctx context.Context, _ string, args []string, _, stderr io.Writer) int {
		if len(args) > 0 {
			fmt.Fprintln(stderr, "usage: postgresql-charm agent (run by systemd as root; takes no arguments)")
			return 2
		}
		if os.Geteuid() != 0 {
			fmt.Fprintln(stderr, "postgresql-charm agent: must run as root")
			return 1
		}
		a := &agent.Agent{ConfigPath: agent.ConfigPath, ReportPath: agent.ReportPath, Log: stderr}
		if err := a.Run(ctx); err != nil {
			fmt.Fprintln(stderr, "postgresql-charm agent:", err)
			return 1
		}
		return 0
	}
}
