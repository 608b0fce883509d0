// Command charmdocs rewrites the generated reference section of a README from the
// charm's config.yaml and actions.yaml: charmdocs README.md.
package main

import (
	"fmt"
	"os"

	"github.com/pgcharm/postgresql"
	"github.com/pgcharm/postgresql/internal/docs"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: charmdocs README.md")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "charmdocs:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	ref, err := docs.Reference(postgresql.Config, postgresql.Actions, postgresql.ConfigOrder())
	if err != nil {
		return err
	}
	out, err := docs.Splice(string(old), ref)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(out), 0o644)
}
