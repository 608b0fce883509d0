package cli

import (
	"fmt"

	"github.com/pgcharm/postgresql/internal/jujusim/image"
)

// Verbs of machines: their images and faults (reboot, crash, partition, ...).
func init() {
	reg("image", "build [--base debian@12] [--packages P[,P]] [--force] | show [--base ...] [--packages ...]  (machine images)", cmdImage)
}

func cmdImage(c *env) error {
	var base string
	var pkgs []string
	var force bool
	c.fs.String(&base, "base")
	c.fs.StringList(&pkgs, "packages")
	c.fs.Bool(&force, "force")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, 1, "image build|show"); err != nil {
		return err
	}
	r := image.Default()
	if base != "" {
		r.Base = base
	}
	r.Packages = append(r.Packages, pkgs...)
	switch args[0] {
	case "build":
		build := image.Build
		if force {
			build = image.Rebuild
		}
		img, err := build(c.ctx, image.CacheDir(), r, c.stderr)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, img.Dir)
		return nil
	case "show":
		img, err := image.Find(image.CacheDir(), r)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, img.Dir)
		return nil
	}
	return fmt.Errorf("image %s: unknown subcommand (want build or show)", args[0])
}
