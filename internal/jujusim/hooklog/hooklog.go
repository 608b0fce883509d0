// Package hooklog is jujusim's debug log: one text file per model of lines shaped like
// `juju debug-log` output, appended by the CLI (hook runs) and by juju-log.
package hooklog

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Path is the debug log file of a model.
func Path(home, modelUUID string) string {
	if modelUUID == "" {
		modelUUID = "controller"
	}
	return filepath.Join(home, "logs", modelUUID+".log")
}

// Line formats one debug-log line: "unit-pg-0: 15:04:05.000 INFO module message".
func Line(model, unit string, t time.Time, level, module, msg string) string {
	tag := "unit-" + strings.ReplaceAll(unit, "/", "-")
	if unit == "" {
		tag = "model-" + model
	}
	return fmt.Sprintf("%s: %s %s %s %s", tag, t.UTC().Format("15:04:05.000"), level, module, msg)
}

// Append appends lines (each gets a newline) in one write; errors are ignored since a
// lost log line must never fail a hook.
func Append(home, modelUUID string, lines ...string) {
	if len(lines) == 0 {
		return
	}
	_ = os.MkdirAll(filepath.Join(home, "logs"), 0o700)
	f, err := os.OpenFile(Path(home, modelUUID), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(strings.TrimRight(l, "\n"))
		b.WriteByte('\n')
	}
	_, _ = f.WriteString(b.String())
}
