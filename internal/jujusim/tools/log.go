package tools

import (
	"os"
	"strings"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
)

func init() {
	registry["juju-log"] = toolSpec{fn: jujuLog, noState: true}
}

var logLevels = map[string]bool{"TRACE": true, "DEBUG": true, "INFO": true, "WARNING": true, "ERROR": true, "CRITICAL": true}

func jujuLog(c *call) error {
	var level string
	var debug bool
	c.fs.String(&level, "l", "log-level")
	c.fs.Bool(&debug, "debug")
	// juju-log also accepts --format (ignored).
	var f string
	c.fs.String(&f, "format")
	if err := c.parse(); err != nil {
		return err
	}
	if len(c.fs.Args) == 0 {
		return cmdline.Usagef("no message specified")
	}
	level = strings.ToUpper(level)
	if debug {
		level = "DEBUG"
	}
	if !logLevels[level] {
		level = "INFO"
	}
	msg := strings.Join(c.fs.Args, " ")
	if rel := os.Getenv("JUJU_RELATION_ID"); rel != "" {
		msg = rel + ": " + msg
	}
	unit := os.Getenv("JUJU_UNIT_NAME")
	model := os.Getenv("JUJU_MODEL_NAME")
	line := lineFor(model, unit, level, msg)
	c.home = homeDir()
	appendLog(c.home, line)
	if id := os.Getenv("JUJU_CONTEXT_ID"); id != "" {
		appendCtxLog(c.home, id, level+" "+msg)
	}
	return nil
}
