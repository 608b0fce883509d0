package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
	"github.com/pgcharm/postgresql/internal/jujusim/engine"
	"github.com/pgcharm/postgresql/internal/jujusim/state"
	"gopkg.in/yaml.v2"
)

func init() {
	reg("run", "UNIT ACTION [K=V ...] [--format=yaml|json] [--background]", cmdRun)
	reg("run-action", "UNIT ACTION [K=V ...] [--wait] [--format=yaml|json]", cmdRunAction)
	reg("show-action-output", "ID [--format=yaml|json]", cmdShowAction, "show-task")
}

// taskJSON is juju 3's `juju run --format=json` shape for one task.
func taskJSON(a state.Action) map[string]any {
	results := map[string]any{}
	for k, v := range a.Results {
		results[k] = v
	}
	results["return-code"] = a.Code
	if a.Stdout != "" {
		results["stdout"] = a.Stdout
	}
	if a.Stderr != "" {
		results["stderr"] = a.Stderr
	}
	logs := []string{}
	for _, l := range a.Log {
		logs = append(logs, l.Time.Format("2006-01-02 15:04:05 -0700 MST")+" "+l.Message)
	}
	out := map[string]any{
		"id": a.ID, "status": a.Status, "results": results, "log": logs, "unit": a.Unit,
		"timing": map[string]string{"enqueued": jtime(a.Enqueued), "started": jtime(a.Started), "completed": jtime(a.Completed)},
	}
	if a.Message != "" {
		out["message"] = a.Message
	}
	return out
}

func jtime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 -0700 UTC")
}

func (c *env) runAction(unit, name string, params []string) (state.Action, error) {
	p, err := engine.ParseActionParams(params)
	if err != nil {
		return state.Action{}, cmdline.Usagef("%v", err)
	}
	id, err := c.e.EnqueueAction(c.ref(), unit, name, p)
	if err != nil {
		return state.Action{}, err
	}
	if err := c.settle(); err != nil {
		return state.Action{}, err
	}
	// Action ids count per model: look in the model the action was queued in.
	ref := c.ref()
	if ref.Model == "" {
		if ref, err = c.e.Current(); err != nil {
			return state.Action{}, err
		}
	}
	return c.e.Action(ref, id)
}

func cmdRun(c *env) error {
	var format string
	var background, wait bool
	var wtime string
	c.fs.String(&format, "format")
	c.fs.String(&format, "o")
	c.fs.Bool(&background, "background")
	c.fs.Bool(&wait, "wait")
	c.fs.String(&wtime, "wait-time")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 2, -1, "run UNIT ACTION [K=V...]"); err != nil {
		return err
	}
	if background {
		c.noWait = true
	}
	a, err := c.runAction(args[0], args[1], args[2:])
	if err != nil {
		return err
	}
	if background {
		fmt.Fprintf(c.stdout, "Scheduled operation %s with task %s\nCheck operation status with 'juju show-operation %s'\nCheck task status with 'juju show-task %s'\n", a.ID, a.ID, a.ID, a.ID)
		return nil
	}
	switch format {
	case "json":
		data, _ := json.Marshal(map[string]any{a.Unit: taskJSON(a)})
		fmt.Fprintln(c.stdout, string(data))
	case "yaml":
		data, _ := yaml.Marshal(map[string]any{a.Unit: taskJSON(a)})
		c.stdout.Write(data)
	default:
		fmt.Fprintf(c.stderr, "Running operation %s with 1 task\n  - task %s on unit-%s\n\nWaiting for task %s...\n", a.ID, a.ID, strings.ReplaceAll(a.Unit, "/", "-"), a.ID)
		for _, l := range a.Log {
			fmt.Fprintf(c.stderr, "%s %s\n", l.Time.Format("15:04:05"), l.Message)
		}
		if len(a.Results) > 0 {
			data, _ := yaml.Marshal(a.Results)
			c.stdout.Write(data)
		}
		if a.Stdout != "" {
			fmt.Fprint(c.stdout, a.Stdout)
		}
	}
	if a.Status != "completed" {
		return fmt.Errorf("the following task failed:\n id %q with return code %d\n\nuse 'juju show-task' to inspect the failure: %s", a.ID, a.Code, a.Message)
	}
	return nil
}

// action29 is juju 2.9's run-action --wait / show-action-output shape.
func action29(a state.Action) map[string]any {
	results := map[string]any{}
	for k, v := range a.Results {
		results[k] = v
	}
	results["Code"] = fmt.Sprint(a.Code)
	if a.Stdout != "" {
		results["Stdout"] = a.Stdout
	}
	if a.Stderr != "" {
		results["Stderr"] = a.Stderr
	}
	out := map[string]any{"UnitId": a.Unit, "id": a.ID, "results": results, "status": a.Status,
		"timing": map[string]string{"enqueued": jtime(a.Enqueued), "started": jtime(a.Started), "completed": jtime(a.Completed)}}
	if a.Message != "" {
		out["message"] = a.Message
	}
	if len(a.Log) > 0 {
		var logs []map[string]string
		for _, l := range a.Log {
			logs = append(logs, map[string]string{"timestamp": jtime(l.Time), "message": l.Message})
		}
		out["log"] = logs
	}
	return out
}

func cmdRunAction(c *env) error {
	var wait bool
	var format string
	c.fs.Bool(&wait, "wait")
	c.fs.String(&format, "format")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 2, -1, "run-action UNIT ACTION [K=V...]"); err != nil {
		return err
	}
	a, err := c.runAction(args[0], args[1], args[2:])
	if err != nil {
		return err
	}
	if !wait {
		fmt.Fprintf(c.stdout, "Action queued with id: %q\n", a.ID)
		return nil
	}
	out := map[string]any{"unit-" + strings.ReplaceAll(a.Unit, "/", "-"): action29(a)}
	if format == "json" {
		data, _ := json.Marshal(out)
		fmt.Fprintln(c.stdout, string(data))
		return nil
	}
	data, _ := yaml.Marshal(out)
	_, err = c.stdout.Write(data)
	return err
}

func cmdShowAction(c *env) error {
	var format string
	c.fs.String(&format, "format")
	args, err := c.parse()
	if err != nil {
		return err
	}
	if err := nargs(args, 1, 1, "show-action-output ID"); err != nil {
		return err
	}
	a, err := c.e.Action(c.ref(), args[0])
	if err != nil {
		return err
	}
	if format == "json" {
		data, _ := json.Marshal(action29(a))
		fmt.Fprintln(c.stdout, string(data))
		return nil
	}
	data, _ := yaml.Marshal(action29(a))
	_, err = c.stdout.Write(data)
	return err
}
