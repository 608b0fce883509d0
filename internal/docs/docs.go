// Package docs renders the configuration and action reference from the charm's YAML, so
// the README cannot drift from what Juju reads.
package docs

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	jujucharm "github.com/juju/charm/v12"
)

// Begin and End delimit the generated part of the README.
const (
	Begin = "<!-- BEGIN GENERATED REFERENCE (make docs) -->"
	End   = "<!-- END GENERATED REFERENCE -->"
)

// Reference renders config.yaml and actions.yaml as Markdown, options in file order.
func Reference(configYAML, actionsYAML []byte, order []string) (string, error) {
	cfg, err := jujucharm.ReadConfig(bytes.NewReader(configYAML))
	if err != nil {
		return "", fmt.Errorf("config.yaml: %w", err)
	}
	acts, err := jujucharm.ReadActionsYaml("postgresql", bytes.NewReader(actionsYAML))
	if err != nil {
		return "", fmt.Errorf("actions.yaml: %w", err)
	}
	var b strings.Builder
	b.WriteString("### Configuration\n\n| option | type | default | description |\n|---|---|---|---|\n")
	for _, name := range order {
		o, ok := cfg.Options[name]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", name, o.Type, defaultText(o.Default), cell(o.Description))
	}
	b.WriteString("\n### Actions\n")
	names := make([]string, 0, len(acts.ActionSpecs))
	for n := range acts.ActionSpecs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		spec := acts.ActionSpecs[n]
		fmt.Fprintf(&b, "\n#### `%s`\n\n%s\n", n, strings.TrimSpace(spec.Description))
		props, _ := spec.Params["properties"].(map[string]any)
		if len(props) == 0 {
			continue
		}
		required := map[string]bool{}
		if rs, ok := spec.Params["required"].([]any); ok {
			for _, r := range rs {
				required[fmt.Sprint(r)] = true
			}
		}
		b.WriteString("\n| parameter | type | default | description |\n|---|---|---|---|\n")
		pnames := make([]string, 0, len(props))
		for p := range props {
			pnames = append(pnames, p)
		}
		sort.Strings(pnames)
		for _, p := range pnames {
			prop, _ := props[p].(map[string]any)
			def := defaultText(prop["default"])
			if required[p] {
				def = "required"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", p, typeText(prop["type"]), def, cell(fmt.Sprint(prop["description"])))
		}
	}
	return b.String(), nil
}

// Splice replaces the generated part of a README with ref.
func Splice(readme, ref string) (string, error) {
	i := strings.Index(readme, Begin)
	j := strings.Index(readme, End)
	if i < 0 || j < i {
		return "", fmt.Errorf("README has no %q ... %q markers", Begin, End)
	}
	return readme[:i+len(Begin)] + "\n" + ref + readme[j:], nil
}

func defaultText(v any) string {
	switch v := v.(type) {
	case nil:
		return "(none)"
	case string:
		if v == "" {
			return `""`
		}
		return "`" + v + "`"
	default:
		return fmt.Sprintf("`%v`", v)
	}
}

func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// typeText renders a JSON schema type: "string", or "string or integer" for a list.
func typeText(t any) string {
	if list, ok := t.([]any); ok {
		parts := make([]string, len(list))
		for i, v := range list {
			parts[i] = fmt.Sprint(v)
		}
		return strings.Join(parts, " or ")
	}
	return fmt.Sprint(t)
}
