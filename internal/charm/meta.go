package charm

import (
	"bytes"
	"fmt"
	"sync"

	jujucharm "github.com/juju/charm/v12"

	"github.com/pgcharm/postgresql"
)

// definitions are the charm's own YAML files, parsed once with the library Juju uses, so
// that the binary agrees with Juju on which hooks and actions exist.
type definitions struct {
	meta    *jujucharm.Meta
	config  *jujucharm.Config
	actions *jujucharm.Actions
}

var defs = sync.OnceValues(func() (*definitions, error) {
	meta, err := jujucharm.ReadMeta(bytes.NewReader(postgresql.Metadata))
	if err != nil {
		return nil, fmt.Errorf("metadata.yaml: %w", err)
	}
	config, err := jujucharm.ReadConfig(bytes.NewReader(postgresql.Config))
	if err != nil {
		return nil, fmt.Errorf("config.yaml: %w", err)
	}
	actions, err := jujucharm.ReadActionsYaml(meta.Name, bytes.NewReader(postgresql.Actions))
	if err != nil {
		return nil, fmt.Errorf("actions.yaml: %w", err)
	}
	return &definitions{meta: meta, config: config, actions: actions}, nil
})

// Definitions returns the parsed metadata, config and actions embedded in the binary.
func Definitions() (*jujucharm.Meta, *jujucharm.Config, *jujucharm.Actions, error) {
	d, err := defs()
	if err != nil {
		return nil, nil, nil, err
	}
	return d.meta, d.config, d.actions, nil
}
