package main

import "github.com/pgcharm/postgresql/internal/archive/cli"

func init() {
	for _, n := range cli.Commands() {
		subcommands[n] = cli.Run
	}
}
