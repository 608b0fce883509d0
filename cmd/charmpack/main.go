// Command charmpack builds a .charm archive: charmpack -src DIR -main ./cmd/x -o x.charm.
// With -hooks DIR it only (re)writes the hook symlinks for the metadata in -src.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/pgcharm/postgresql/internal/pack"
)

func main() {
	var o pack.Options
	var hooksDir string
	flag.StringVar(&o.SrcDir, "src", ".", "charm source directory (metadata.yaml, ...)")
	flag.StringVar(&o.Main, "main", "./cmd/postgresql-charm", "Go package of the charm binary")
	flag.StringVar(&o.ModDir, "mod", ".", "Go module directory")
	flag.StringVar(&o.GOARCH, "arch", runtime.GOARCH, "architecture to build for")
	flag.StringVar(&o.Version, "version", "dev", "version stamped into the binary")
	flag.StringVar(&o.Out, "o", "", "charm archive to write")
	flag.StringVar(&hooksDir, "hooks", "", "only write hook symlinks into this directory")
	flag.Parse()
	if err := run(o, hooksDir); err != nil {
		fmt.Fprintln(os.Stderr, "charmpack:", err)
		os.Exit(1)
	}
}

func run(o pack.Options, hooksDir string) error {
	if hooksDir != "" {
		meta, err := pack.ReadMeta(filepath.Join(o.SrcDir, "metadata.yaml"))
		if err != nil {
			return err
		}
		return pack.Links(hooksDir, pack.HookNames(meta))
	}
	if o.Out == "" {
		return fmt.Errorf("-o is required")
	}
	fmt.Printf("building %s (%s)\n", o.Out, o.GOARCH)
	return pack.Build(context.Background(), o)
}
