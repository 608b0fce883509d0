package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/state"
)

// Unless model config automatically-retry-hooks is false (Juju's default is true), a failed
// hook is retried after RetryDelay, doubling up to MaxRetryDelay, forever (Juju's uniter
// hook retry strategy: 5s doubling to 5 minutes). A Settle waits for a retry only when it
// is due within RetryWait, so that a command returns with a unit still in error (its
// retry scheduled) instead of waiting minutes; the next command runs it once it is due.
var (
	RetryDelay    = 5 * time.Second
	MaxRetryDelay = 5 * time.Minute
	RetryWait     = 30 * time.Second
)

// retryDelay is the wait before the retry that follows n retries.
func retryDelay(n int) time.Duration {
	d := RetryDelay
	for i := 0; i < n && d < MaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, MaxRetryDelay)
}

// autoRetry waits for the earliest scheduled automatic retry and clears that unit's error;
// it reports false when no retry is scheduled.
func (e *Engine) autoRetry(ctx context.Context) (bool, error) {
	var at time.Time
	_ = e.Store.View(func(st *state.State) error {
		for _, m := range st.Models {
			for _, u := range m.Units {
				if u.Failed != nil && !u.RetryAt.IsZero() && (at.IsZero() || u.RetryAt.Before(at)) {
					at = u.RetryAt
				}
			}
		}
		return nil
	})
	if at.IsZero() || time.Until(at) > RetryWait {
		return false, nil
	}
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case <-time.After(time.Until(at)):
	}
	err := e.Store.Update(func(st *state.State) error {
		for _, m := range st.Models {
			for _, u := range m.Units {
				if u.Failed != nil && !u.RetryAt.IsZero() && !u.RetryAt.After(time.Now()) {
					u.Failed, u.RetryAt = nil, time.Time{}
					u.Retries++
					if u.Before != nil {
						u.Workload, u.Before = *u.Before, nil
					}
				}
			}
		}
		return nil
	})
	return true, err
}

// Resolve clears a unit's error: the failed hook runs again, or with noRetry is skipped.
func (e *Engine) Resolve(ref ModelRef, unitName string, noRetry bool) error {
	return e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		u := m.Units[unitName]
		if u == nil {
			return fmt.Errorf("unit %q not found", unitName)
		}
		if u.Failed == nil {
			return fmt.Errorf("unit %q is not in an error state", unitName)
		}
		ev := *u.Failed
		u.Failed = nil
		u.Retries, u.RetryAt = 0, time.Time{}
		if u.Before != nil {
			u.Workload = *u.Before
			u.Before = nil
		}
		if noRetry {
			if len(u.Queue) > 0 {
				u.Queue = u.Queue[1:]
			}
			for _, f := range e.transition(st, m, u, ev) {
				defer f()
			}
		}
		return nil
	})
}

// RunHook queues a non-relation hook (update-status, config-changed, ...) on a unit.
func (e *Engine) RunHook(ref ModelRef, unitName, hook string) error {
	switch hook {
	case "update-status", "config-changed", "start", "stop", "install", "upgrade-charm", "leader-settings-changed", "leader-elected":
	default:
		return fmt.Errorf("run-hook supports update-status, config-changed, start, stop, install, upgrade-charm, leader-elected and leader-settings-changed, not %q", hook)
	}
	return e.Store.Update(func(st *state.State) error {
		m, err := model(st, ref)
		if err != nil {
			return err
		}
		u := m.Units[unitName]
		if u == nil {
			return fmt.Errorf("unit %q not found", unitName)
		}
		u.Enqueue(state.Event{Kind: hook})
		return nil
	})
}

// UpdateStatus queues update-status on every started unit of every model.
func (e *Engine) UpdateStatus() error {
	return e.Store.Update(func(st *state.State) error {
		for _, m := range st.Models {
			for _, u := range m.Units {
				if u.Started && u.Life == "alive" && !u.Removed {
					u.Enqueue(state.Event{Kind: "update-status"})
				}
			}
		}
		return nil
	})
}
