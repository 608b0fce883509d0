package e2e

import (
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/simtest"
)

// TestJujuExec: juju-exec on a machine runs commands in the unit's hook context as Juju
// 3.6 does.
//   - cmd/jujud/run.go (RunCommand.Init): refused inside a hook context; the unit must be
//     on this machine; -u or the first argument names it; several arguments are one
//     command line.
//   - worker/uniter/runner/runner.go RunCommands: the context's HookVars (JUJU_HOOK_NAME
//     empty, no JUJU_DISPATCH_PATH, which only hooks and actions get), in the charm
//     directory, /bin/bash -s; Flush commits the tools' writes whatever the exit code
//     (utils/exec returns a non-zero exit as Code, not as an error); the exit code passes
//     through.
//   - worker/uniter/resolver.go: commands are an operation between hooks, before queued
//     hooks: never during one.
//   - worker/uniter/runner/context/contextfactory.go: -r gives a relation context whose
//     remote unit is inferred when there is only one.
func TestJujuExec(t *testing.T) {
	s := simtest.New(t)
	ch := recorderCharm(t)
	s.Bootstrap("ctl")
	s.Run("deploy", ch, "rec", "-n", "2")
	inMachine := func(unit, script string) (string, string, error) {
		return s.RunE("ssh", unit, script)
	}

	out, errOut, err := inMachine("rec/0", `juju-exec rec/0 'echo "$JUJU_UNIT_NAME|${JUJU_HOOK_NAME-unset}|${JUJU_DISPATCH_PATH-unset}|$PWD|$JUJU_CONTEXT_ID|${HOME-nohome}"'`)
	if err != nil {
		t.Fatalf("juju-exec: %v\n%s", err, errOut)
	}
	f := strings.Split(strings.TrimSpace(out), "|")
	if len(f) != 6 || f[0] != "rec/0" || f[1] != "" || f[2] != "unset" || f[3] != "/var/lib/juju/agents/unit-rec-0/charm" ||
		!strings.HasPrefix(f[4], "rec-0-run-commands-") || f[5] != "nohome" {
		t.Errorf("juju-exec environment: unit|hook name|dispatch path|cwd|context|HOME = %q", out)
	}
	peers := strings.TrimSpace(s.Run("ssh", "rec/0", `juju-exec -u rec/0 relation-ids peers`))
	if !strings.HasPrefix(peers, "peers:") {
		t.Fatalf("relation-ids peers in juju-exec: %q", peers)
	}

	// Writes are committed at the end even when the commands fail; the exit code passes.
	n1 := len(records(t, s, "", "rec/1"))
	_, _, err = inMachine("rec/0", `juju-exec -u rec/0 'relation-set -r `+peers+` via=exec && exit 3'`)
	if code := exitCode(err); code != 3 {
		t.Errorf("juju-exec exit code %d (%v), want 3", code, err)
	}
	s.Run("wait")
	var got string
	for _, r := range records(t, s, "", "rec/1")[n1:] {
		if r.Hook == "peers-relation-changed" && r.Env["JUJU_REMOTE_UNIT"] == "rec/0" {
			got = r.Remote["via"]
		}
	}
	if got != "exec" {
		t.Errorf("rec/1 did not get relation-changed with rec/0's juju-exec write (via=%q)", got)
	}

	// A relation context, its remote unit inferred.
	out = s.Run("ssh", "rec/0", `juju-exec -r `+peers+` rec/0 'echo $JUJU_RELATION $JUJU_RELATION_ID $JUJU_REMOTE_UNIT $JUJU_REMOTE_APP; relation-get - rec/1 | grep -c from:'`)
	if want := "peers " + peers + " rec/1 rec\n1\n"; out != want {
		t.Errorf("juju-exec -r: %q, want %q", out, want)
	}

	// Refusals, as Juju's.
	_, errOut, err = s.RunE("exec", "rec/0", "--", "juju-exec", "rec/0", "true")
	if exitCode(err) != 2 || !strings.Contains(errOut, "juju-exec cannot be called from within a hook, have context") {
		t.Errorf("juju-exec in a hook context: %v %q", err, errOut)
	}
	_, errOut, err = inMachine("rec/0", "juju-exec rec/1 true")
	if err == nil || !strings.Contains(errOut, `unit "rec/1" not found on this machine`) {
		t.Errorf("juju-exec of another machine's unit: %v %q", err, errOut)
	}

	// Serialised with the unit's hooks: a config-changed queued while the commands run
	// starts after they commit; the other unit's runs meanwhile.
	s.Run("ssh", "rec/0", `nohup juju-exec rec/0 'date +%s%N >/tmp/exec-start; sleep 3; relation-set -r `+peers+` via=slow; date +%s%N >/tmp/exec-end' </dev/null >/tmp/exec.out 2>&1 &`)
	for i := 0; ; i++ {
		if _, _, err := inMachine("rec/0", "test -e /tmp/exec-start"); err == nil {
			break
		}
		if i > 100 {
			t.Fatal("the background juju-exec never started")
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.Run("config", "rec", "greeting=later")
	end, err := strconv.ParseInt(strings.TrimSpace(s.Run("ssh", "rec/0", "cat /tmp/exec-end")), 10, 64)
	if err != nil {
		t.Fatalf("exec end: %v (%s)", err, s.Run("ssh", "rec/0", "cat /tmp/exec.out"))
	}
	cc0 := find(records(t, s, "", "rec/0"), "config-changed")
	cc1 := find(records(t, s, "", "rec/1"), "config-changed")
	if last := cc0[len(cc0)-1]; last.Start < end {
		t.Errorf("rec/0's config-changed started %v before its juju-exec committed", time.Duration(end-last.Start))
	}
	if last := cc1[len(cc1)-1]; last.Start > end {
		t.Errorf("rec/1's config-changed waited for rec/0's juju-exec")
	}
	var slow bool
	for _, r := range find(records(t, s, "", "rec/1"), "peers-relation-changed") {
		slow = slow || r.Remote["via"] == "slow"
	}
	if !slow {
		t.Error("the background juju-exec's write reached rec/1 in the same command")
	}

	// A partitioned machine's agent is down: juju-exec cannot reach it.
	s.Partition("rec/1")
	_, errOut, err = inMachine("rec/1", "juju-exec rec/1 true")
	if err == nil || !strings.Contains(errOut, "dialing juju run socket") {
		t.Errorf("juju-exec on a partitioned machine: %v %q", err, errOut)
	}
	s.Heal("rec/1")
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err == nil {
		return 0
	}
	return -1
}
