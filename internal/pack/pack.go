// Package pack builds a charm archive from a charm source directory and the Go program
// that is the charm, the way Juju expects it: the binary as dispatch, every hook and
// action a relative symlink to it, and the YAML files beside them.
package pack

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"

	jujucharm "github.com/juju/charm/v12"
	"gopkg.in/yaml.v3"
)

// Options say what to build.
type Options struct {
	SrcDir  string   // holds metadata.yaml and optionally config.yaml, actions.yaml, manifest.yaml, README.md
	Main    string   // Go package of the charm binary, e.g. ./cmd/postgresql-charm (relative to ModDir)
	ModDir  string   // where go build runs
	GOARCH  string   // architecture of the binary; the manifest is narrowed to it
	Version string   // stamped into the binary as main.version
	Out     string   // the .charm file to write
	Extra   []string // more files from SrcDir to include
}

// Build compiles the charm binary statically, lays out the charm in a temporary
// directory and archives it with juju/charm, so the result is what `juju deploy` reads.
func Build(ctx context.Context, o Options) error {
	dir, err := os.MkdirTemp("", "charm-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := Layout(ctx, o, dir); err != nil {
		return err
	}
	cd, err := jujucharm.ReadCharmDir(dir)
	if err != nil {
		return fmt.Errorf("read built charm: %w", err)
	}
	tmp := o.Out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := cd.ArchiveTo(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("archive %s: %w", o.Out, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, o.Out)
}

// Layout writes the unpacked charm into dir.
func Layout(ctx context.Context, o Options, dir string) error {
	meta, err := ReadMeta(filepath.Join(o.SrcDir, "metadata.yaml"))
	if err != nil {
		return err
	}
	files := append([]string{"metadata.yaml", "config.yaml", "actions.yaml", "README.md"}, o.Extra...)
	for _, name := range files {
		b, err := os.ReadFile(filepath.Join(o.SrcDir, name))
		if os.IsNotExist(err) && name != "metadata.yaml" {
			continue
		}
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	if err := writeManifest(filepath.Join(o.SrcDir, "manifest.yaml"), filepath.Join(dir, "manifest.yaml"), o.GOARCH); err != nil {
		return err
	}
	if err := compile(ctx, o, filepath.Join(dir, "dispatch")); err != nil {
		return err
	}
	if err := Links(filepath.Join(dir, "hooks"), HookNames(meta)); err != nil {
		return err
	}
	actions, err := ActionNames(filepath.Join(o.SrcDir, "actions.yaml"), meta.Name)
	if err != nil {
		return err
	}
	if len(actions) > 0 {
		return Links(filepath.Join(dir, "actions"), actions)
	}
	return nil
}

func compile(ctx context.Context, o Options, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath",
		"-ldflags", "-s -w -X main.version="+o.Version, "-o", out, o.Main)
	cmd.Dir = o.ModDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.GOARCH)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", o.Main, err, stderr.String())
	}
	return nil
}

// ReadMeta parses a metadata.yaml.
func ReadMeta(path string) (*jujucharm.Meta, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	meta, err := jujucharm.ReadMeta(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return meta, nil
}

// HookNames lists, sorted, every hook Juju may run for this metadata.
func HookNames(meta *jujucharm.Meta) []string {
	var names []string
	for n := range meta.Hooks() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ActionNames lists, sorted, the actions in an actions.yaml (none if it is absent).
func ActionNames(path, charmName string) ([]string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	actions, err := jujucharm.ReadActionsYaml(charmName, f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var names []string
	for n := range actions.ActionSpecs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// Links makes dir hold exactly one relative symlink to ../dispatch per name.
func Links(dir string, names []string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, n := range names {
		if err := os.Symlink("../dispatch", filepath.Join(dir, n)); err != nil {
			return err
		}
	}
	return nil
}

// writeManifest keeps only the built architecture in each base, since the archive holds
// a binary for that architecture alone.
func writeManifest(src, dst, arch string) error {
	b, err := os.ReadFile(src)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var m struct {
		Bases []struct {
			Name          string   `yaml:"name"`
			Channel       string   `yaml:"channel"`
			Architectures []string `yaml:"architectures"`
		} `yaml:"bases"`
	}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	for i := range m.Bases {
		found := false
		for _, a := range m.Bases[i].Architectures {
			found = found || a == arch
		}
		if !found {
			return fmt.Errorf("%s does not list architecture %s", src, arch)
		}
		m.Bases[i].Architectures = []string{arch}
	}
	out, err := yaml.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, out, 0o644)
}
