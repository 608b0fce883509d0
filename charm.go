// Package postgresql holds the charm's YAML definitions, embedded so that the one binary
// knows its own hooks, options and actions, and so that packaging, documentation and tests
// read the same bytes that Juju reads.
package postgresql

import (
	_ "embed"

	"gopkg.in/yaml.v3"
)

// Metadata, Config, Actions and Manifest are the charm's metadata.yaml, config.yaml,
// actions.yaml and manifest.yaml.
var (
	//go:embed metadata.yaml
	Metadata []byte
	//go:embed config.yaml
	Config []byte
	//go:embed actions.yaml
	Actions []byte
	//go:embed manifest.yaml
	Manifest []byte
)

// ConfigOrder lists the options in the order config.yaml gives them, which is the order
// a person reads them in; Juju's parsed form is a map.
func ConfigOrder() []string {
	var doc struct {
		Options yaml.Node `yaml:"options"`
	}
	if err := yaml.Unmarshal(Config, &doc); err != nil {
		return nil
	}
	var names []string
	for i := 0; i+1 < len(doc.Options.Content); i += 2 {
		names = append(names, doc.Options.Content[i].Value)
	}
	return names
}
