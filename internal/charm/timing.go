package charm

import (
	"sync"
	"time"

	"github.com/gruyaume/goops"

	"github.com/pgcharm/postgresql/internal/postgres"
)

// hookTimes splits a hook's wall time into hook tools, PostgreSQL's own programs and the
// charm itself, so that the charm's overhead is measured rather than guessed.
type hookTimes struct {
	mu          sync.Mutex
	start       time.Time
	tools, pg   time.Duration
	nTools, nPG int
	inner       goops.CommandRunner
}

func startTiming() *hookTimes {
	t := &hookTimes{start: time.Now(), inner: goops.GetCommandRunner()}
	goops.SetCommandRunner(t)
	postgres.CommandHook = func(_ []string, d time.Duration) {
		t.mu.Lock()
		t.pg += d
		t.nPG++
		t.mu.Unlock()
	}
	return t
}

// Run times a goops hook-tool call.
func (t *hookTimes) Run(name string, args ...string) ([]byte, error) {
	start := time.Now()
	out, err := t.inner.Run(name, args...)
	t.addTool(time.Since(start))
	return out, err
}

func (t *hookTimes) addTool(d time.Duration) {
	t.mu.Lock()
	t.tools += d
	t.nTools++
	t.mu.Unlock()
}

// log writes the split at debug level.
func (t *hookTimes) log(what string) {
	total := time.Since(t.start)
	t.mu.Lock()
	tools, nTools, pg, nPG := t.tools, t.nTools, t.pg, t.nPG
	t.mu.Unlock()
	goops.LogDebugf("%s took %s: %s in %d hook tools, %s in %d PostgreSQL programs, %s in the charm",
		what, total.Round(time.Millisecond), tools.Round(time.Millisecond), nTools,
		pg.Round(time.Millisecond), nPG, (total - tools - pg).Round(time.Millisecond))
}

var timing *hookTimes
