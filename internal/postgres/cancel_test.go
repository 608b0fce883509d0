package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A cancelled command takes what it started with it: no pg_basebackup or
// pg_rewind is left running after its hook gave up.
func TestCancelKillsChildren(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a command as postgres")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// The grandchild's command line is unique, to find it afterwards.
	marker := fmt.Sprintf("%d", 100000+rand.IntN(800000))
	start := time.Now()
	_, err := run(ctx, cmdSpec{asPG: true}, "sh", "-c", "sleep "+marker+" & wait")
	if err == nil {
		t.Fatal("the command was not cancelled")
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("cancelling took %v", d)
	}
	time.Sleep(200 * time.Millisecond)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), "sleep\x00"+marker) {
			t.Errorf("process %s survived: %q", e.Name(), b)
			killPid(e.Name())
		}
	}
}

func killPid(pid string) {
	if n, err := strconv.Atoi(pid); err == nil {
		_ = syscall.Kill(n, syscall.SIGKILL)
	}
}
