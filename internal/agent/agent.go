package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgcharm/postgresql/internal/postgres"
)

// Interval is how often the agent probes.
const Interval = time.Second

// probeTimeout bounds one probe: a server that takes longer counts as unreachable for
// this round (it takes failover_timeout of them in a row to matter).
const probeTimeout = 2 * time.Second

// Agent holds what the agent remembers between rounds.
type Agent struct {
	ConfigPath, ReportPath string
	Log                    io.Writer

	started time.Time
	views   map[string]View
	conns   map[string]*conn
	fenced  string
	// majorityLost is when this primary last stopped reaching a majority (zero while it does).
	majorityLost time.Time
	wake         waker
	lastRoles    map[string]bool // in-recovery per reachable unit at the last round
	lastStandbys []string
	lastPrimary  string
	lastMajority bool
}

type conn struct {
	db   *postgres.DB
	addr string
}

// Run probes every Interval until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	a.started = time.Now()
	a.views, a.conns = map[string]View{}, map[string]*conn{}
	t := time.NewTicker(Interval)
	defer t.Stop()
	defer a.closeAll()
	for {
		if err := a.round(ctx, time.Now()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			a.logf("%v", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (a *Agent) logf(format string, args ...any) {
	if a.Log != nil {
		fmt.Fprintf(a.Log, format+"\n", args...)
	}
}

// round probes every unit, writes the report and acts on it.
func (a *Agent) round(ctx context.Context, now time.Time) error {
	cfg, err := ReadConfig(a.ConfigPath)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(cfg.CA)) {
		return errors.New("agent configuration: no CA certificate")
	}
	type result struct {
		name string
		f    *postgres.ProbeFacts
		err  error
	}
	results := make(chan result, len(cfg.Units))
	var wg sync.WaitGroup
	for name, addr := range cfg.Units {
		c := a.conns[name]
		if c != nil && c.addr != addr {
			c.close()
			c = nil
		}
		if c == nil {
			c = &conn{addr: addr}
			a.conns[name] = c
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			defer cancel()
			f, err := c.probe(pctx, name == cfg.Unit, cfg, roots)
			results <- result{name, f, err}
		}()
	}
	wg.Wait()
	close(results)
	for name, c := range a.conns {
		if _, ok := cfg.Units[name]; !ok {
			c.close()
			delete(a.conns, name)
			delete(a.views, name)
		}
	}
	timeout := cfg.TimeoutDuration()
	for r := range results {
		v := a.views[r.name]
		if r.err != nil {
			if v.Reachable || v.DownSince.IsZero() {
				v.DownSince = now
				if v.LastSeen.IsZero() {
					v.DownSince = a.started
				}
			}
			v.Reachable, v.Error, v.Streaming, v.HostUp = false, r.err.Error(), false, hostAnswered(r.err)
			a.views[r.name] = v
			continue
		}
		f := r.f
		if f.InRecovery && v.InRecovery && f.Timeline == v.Timeline {
			// A WAL receiver that restarts reports its segment's start: what the
			// standby flushed on this timeline is the most it was seen to hold.
			f.Flushed = max(f.Flushed, v.Flushed)
		}
		v = View{Reachable: true, HostUp: true, LastSeen: now, InRecovery: f.InRecovery, Timeline: f.Timeline, Flushed: f.Flushed,
			Replayed: f.Replayed, SeenPrimary: v.SeenPrimary, SyncNames: v.SyncNames}
		if f.InRecovery {
			v.Streaming = f.ReceiverStreaming && f.ReceiverAge >= 0 && f.ReceiverAge < timeout
		} else {
			v.SeenPrimary, v.SyncNames, v.Standbys = true, f.SyncNames, f.Standbys
		}
		a.views[r.name] = v
	}
	a.fence(ctx, cfg, now)
	_, _, has := majority(cfg, a.views)
	rep := Report{Unit: cfg.Unit, Time: now, Started: a.started, Units: a.views, Fenced: a.fenced, Majority: has}
	if err := WriteReport(a.ReportPath, rep); err != nil {
		return err
	}
	if why := a.wakeReason(cfg, now, has); why != "" {
		a.wake.start(ctx, cfg, why, now, a.logf)
	}
	return nil
}

func (c *conn) probe(ctx context.Context, local bool, cfg Config, roots *x509.CertPool) (*postgres.ProbeFacts, error) {
	if c.db == nil {
		var err error
		if local {
			c.db, err = postgres.Connect(ctx, &cfg.Cluster, "postgres")
		} else {
			var pc *pgx.ConnConfig
			if pc, err = peerConfig(c.addr, cfg.Password, roots); err == nil {
				c.db, err = postgres.Dial(ctx, pc)
			}
		}
		if err != nil {
			c.db = nil
			return nil, err
		}
	}
	f, err := c.db.Probe(ctx)
	if err != nil {
		c.close()
	}
	return f, err
}

func (c *conn) close() {
	if c.db != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = c.db.Close(ctx)
		cancel()
		c.db = nil
	}
}

func (a *Agent) closeAll() {
	for _, c := range a.conns {
		c.close()
	}
}

// peerConfig is a connection to a peer's server as the replication role, verified
// against the application's CA on its address, as the charm's own (charm.peerConnConfig).
func peerConfig(address, password string, roots *x509.CertPool) (*pgx.ConnConfig, error) {
	cfg, err := postgres.PeerConfig(address, "juju_replication", password, roots, 2)
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams = map[string]string{"application_name": "juju-charm-agent"}
	return cfg, nil
}

// hostAnswered says whether a failed probe still heard from the unit's machine: the
// connection was refused (nothing listens) or the server answered with an error.
func hostAnswered(err error) bool {
	var pgErr *pgconn.PgError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &pgErr)
}

// majority counts the members whose machines answered (this one is always among them).
func majority(cfg Config, views map[string]View) (reachable, members int, ok bool) {
	names := cfg.Members
	if !slices.Contains(names, cfg.Unit) {
		names = append(slices.Clone(names), cfg.Unit)
	}
	for _, name := range names {
		if name == cfg.Unit || views[name].HostUp {
			reachable++
		}
	}
	return reachable, len(names), 2*reachable > len(names)
}

// fence stops this unit's server when it runs as a primary and the agent has reached the
// machines of no majority of the members (itself included) for the whole failover timeout: by then the
// leader may fail it over, and it must not take writes the new primary never gets. A
// fast shutdown ends every client session; the charm starts it again only as a standby
// of another primary, or when it is still the recorded primary and its hooks run again.
func (a *Agent) fence(ctx context.Context, cfg Config, now time.Time) {
	self := a.views[cfg.Unit]
	if cfg.Timeout <= 0 {
		a.majorityLost = time.Time{}
		return
	}
	if !self.Reachable || self.InRecovery {
		a.majorityLost = time.Time{}
		if self.Reachable {
			a.fenced = ""
		}
		return
	}
	reachable, members, ok := majority(cfg, a.views)
	if ok {
		a.majorityLost, a.fenced = time.Time{}, ""
		return
	}
	if a.majorityLost.IsZero() {
		a.majorityLost = now
		a.logf("primary reaches %d of %d units: fencing in %s unless a majority comes back", reachable, members, cfg.TimeoutDuration())
	}
	if now.Sub(a.majorityLost) < cfg.TimeoutDuration() {
		return
	}
	a.fenced = fmt.Sprintf("reached %d of %d units for %s", reachable, members, now.Sub(a.majorityLost).Round(time.Second))
	a.logf("fencing: stopping the primary server (%s)", a.fenced)
	cl := &cfg.Cluster
	if c := a.conns[cfg.Unit]; c != nil {
		c.close()
	}
	// Said before the stop, which waits for the WAL senders (up to wal_sender_timeout,
	// since the standbys are cut off); the server refuses new sessions and ends the
	// others at once.
	if err := WriteReport(a.ReportPath, Report{Unit: cfg.Unit, Time: now, Started: a.started, Units: a.views, Fenced: a.fenced}); err != nil {
		a.logf("fencing: %v", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := postgres.Stop(sctx, cl, postgres.StopFast); err != nil {
		a.logf("fencing: fast stop failed (%v); stopping immediately", err)
		if err := postgres.Stop(sctx, cl, postgres.StopImmediate); err != nil {
			a.logf("fencing: %v", err)
		}
	}
	self.Reachable, self.DownSince, self.Error = false, now, "fenced: "+a.fenced
	a.views[cfg.Unit] = self
}

// wakeReason says why the charm should run now, or "". The agent wakes it when the
// recorded primary has been unreachable from here for the failover timeout and no standby
// still streams from it (on the leader the charm then judges a failover; on the chosen
// standby it promotes; on the others they follow the new primary), when a unit's role
// changed (a promotion: clients are republished, standbys follow), and on the primary
// when the set of streaming standbys changed while it reaches a majority (quorum commit
// follows it; a primary cut off from the majority never relaxes it on its own), and when
// a majority answers again (a fenced primary may start).
func (a *Agent) wakeReason(cfg Config, now time.Time, majority bool) string {
	regained := majority && !a.lastMajority
	defer func() {
		a.lastMajority = majority
		a.lastRoles = map[string]bool{}
		for name, v := range a.views {
			if v.Reachable {
				a.lastRoles[name] = v.InRecovery
			}
		}
		a.lastPrimary = cfg.Primary
	}()
	if len(cfg.Wake) == 0 {
		return ""
	}
	if regained && !a.started.IsZero() && now.Sub(a.started) > Interval {
		// The charm holds a primary that reaches no majority (plan.Observed.Isolated).
		return "a majority of the units answers again"
	}
	if p, ok := a.views[cfg.Primary]; ok && cfg.Primary != cfg.Unit && !p.Reachable && now.Sub(p.DownSince) >= cfg.TimeoutDuration() {
		alive := false
		for name, v := range a.views {
			alive = alive || (name != cfg.Primary && v.Reachable && v.InRecovery && v.Streaming)
		}
		if !alive {
			return fmt.Sprintf("primary %s unreachable for failover_timeout (%s) and no standby streams from it", cfg.Primary, cfg.TimeoutDuration())
		}
	}
	if a.lastPrimary == cfg.Primary {
		for name, v := range a.views {
			if was, ok := a.lastRoles[name]; ok && v.Reachable && was != v.InRecovery {
				if v.InRecovery {
					return name + " went into recovery"
				}
				return name + " now serves as a primary"
			}
		}
	}
	self := a.views[cfg.Unit]
	if self.Reachable && !self.InRecovery {
		standbys := slices.Clone(self.Standbys)
		changed := !slices.Equal(standbys, a.lastStandbys)
		a.lastStandbys = standbys
		if changed && a.majorityLost.IsZero() {
			return "streaming standbys changed"
		}
	} else {
		a.lastStandbys = nil
	}
	return ""
}

// waker runs one juju-exec at a time; a wake for the same lasting reason is repeated with
// a backoff (from 2 s to 30 s), since the charm may have run before the leader's decision
// reached it.
type waker struct {
	mu      sync.Mutex
	running bool
	last    time.Time
	reason  string
	backoff time.Duration
}

func (w *waker) start(ctx context.Context, cfg Config, why string, now time.Time, logf func(string, ...any)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running {
		return
	}
	if why == w.reason && now.Sub(w.last) < w.backoff {
		return
	}
	if why == w.reason {
		w.backoff = min(2*w.backoff, 30*time.Second)
	} else {
		w.backoff = 2 * time.Second
	}
	w.running, w.last, w.reason = true, now, why
	argv := slices.Clone(cfg.Wake)
	go func() {
		defer func() {
			w.mu.Lock()
			w.running = false
			w.mu.Unlock()
		}()
		logf("waking the charm: %s", why)
		wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(wctx, argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			logf("waking the charm: %v: %s", err, tail(out))
		}
	}()
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
