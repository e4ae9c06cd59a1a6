package coherence

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The Redis of a run (Config.Redis).
const (
	RedisSingle  = "single"
	RedisCluster = "cluster"
)

// The system under test (Config.Mode).
const (
	// ModeService: tiercache user-service instances on one PostgreSQL.
	ModeService = "service"
	// ModeProxy: tiercache proxies in front of one origin, a user service
	// without caches (OriginArgs); the workload goes through the proxies.
	ModeProxy = "proxy"
)

// Config is a run of the checker. Zero values are not defaulted: the
// command sets every field from its flags.
type Config struct {
	Dir       string // run directory; "" makes a new one under the system's temporary directory
	JSON      string // report path; "" is coherence.json in Dir
	Bin       string // tiercache binary; "" builds ./cmd/tiercache
	Keep      bool   // keep PostgreSQL's data and the built binary in Dir
	Instances int
	// Redis is "single" (one redis-server, Schedule) or "cluster" (a
	// 6-node Redis Cluster given to the instances as one seed URL,
	// ClusterSchedule).
	Redis string
	// Mode is ModeService or ModeProxy; "" is ModeService.
	Mode string

	Duration time.Duration
	MaxOps   int
	Clients  int
	Keys     int
	Rate     float64
	Seed     uint64
	Timeout  time.Duration // per request

	Warmup, Gap, Tail time.Duration // fault schedule
	Stall             time.Duration // SIGSTOP length
	KillDowntime      time.Duration // a killed instance stays down this long
	Hold              time.Duration // cluster: writes a master acknowledges, unreplicated, before its kill
	NodeDowntime      time.Duration // cluster: a killed master stays down this long after the promotion
	Settle            time.Duration // after the load, before the final checks

	Bounds           Bounds
	ProbeInterval    time.Duration // the breaker's probe interval: the end of an outage's degraded window
	MaxOutageP99     time.Duration
	PorcupineTimeout time.Duration // per key and check

	Out io.Writer // progress and the table
}

// Run starts the cluster, runs the workload and the fault schedule, checks
// the history and returns the report. An error means the run could not be
// carried out (set-up failed, or ctx ended first); broken promises are in
// the report. Every process it started is stopped before it returns.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "tiercache-coherence-")
		if err != nil {
			return nil, fmt.Errorf("cannot create run directory: %w", err)
		}
		cfg.Dir = d
	} else if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create run directory: %w", err)
	}
	// PostgreSQL runs as user postgres when we are root: it must be able
	// to reach its directory inside ours.
	if err := os.Chmod(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot open up run directory: %w", err)
	}
	if cfg.JSON == "" {
		cfg.JSON = filepath.Join(cfg.Dir, "coherence.json")
	}
	fmt.Fprintf(cfg.Out, "run directory %s (logs, history.jsonl.gz, coherence.json)\n", cfg.Dir)
	if !cfg.Keep {
		// Runs after the cluster's Stop (deferred later): tens of MB each.
		defer func() {
			_ = os.RemoveAll(filepath.Join(cfg.Dir, "pg", "data"))
			if cfg.Bin == "" {
				_ = os.Remove(filepath.Join(cfg.Dir, "tiercache"))
			}
		}()
	}

	onCluster := cfg.Redis == RedisCluster
	cl, err := StartCluster(ctx, cfg.Dir, cfg.Bin, cfg.Instances, onCluster, cfg.Mode, cfg.Out)
	if err != nil {
		return nil, err
	}
	defer cl.Stop()
	if err := cl.WaitRedisOK(ctx, 15*time.Second); err != nil {
		return nil, err
	}
	keys, err := cl.Keys("hot", cfg.Keys)
	if err != nil {
		return nil, fmt.Errorf("cannot choose hot keys: %w", err)
	}
	var witnessKeys []string
	if onCluster {
		if witnessKeys, err = cl.Keys("witness", 3); err != nil {
			return nil, fmt.Errorf("cannot choose witness keys: %w", err)
		}
	}
	schedule := Schedule
	if onCluster {
		schedule = ClusterSchedule
	}

	clock := NewClock()
	h := NewHistory(clock)
	loadCtx, stopLoad := context.WithTimeout(ctx, cfg.Duration)
	defer stopLoad()
	deadline := int64(cfg.Duration)

	var (
		mu     sync.Mutex
		faults []Fault
	)
	in := &Injector{
		Target: cl, Clock: clock,
		Warmup: cfg.Warmup, Gap: cfg.Gap, Tail: cfg.Tail, Stall: cfg.Stall, Restart: cfg.KillDowntime,
		Schedule: schedule, Nodes: cl.Nodes(), Hold: cfg.Hold, NodeDowntime: cfg.NodeDowntime,
		OnFault: func(f Fault) {
			mu.Lock()
			faults = append(faults, f)
			mu.Unlock()
			msg := ""
			switch {
			case f.Kind == InstanceKill:
				msg = fmt.Sprintf(" instance %d gen %d", f.Instance, f.Gen)
			case f.Promoted != "":
				msg = fmt.Sprintf(" node %s, %s promoted, %d bytes unreplicated", f.Node, f.Promoted, f.Unreplicated)
			case f.Node != "":
				msg = " node " + f.Node
			}
			if f.Err != "" {
				msg += " FAILED: " + f.Err
			}
			fmt.Fprintf(cfg.Out, "  fault %-16s at %6.2fs for %s%s\n", f.Kind, float64(f.Start)/1e9, msf(time.Duration(f.End-f.Start)), msg)
		},
	}
	w := &Workload{
		Clients: cfg.Clients, Keys: keys, Mix: DefaultMix, Rate: cfg.Rate,
		MaxOps: cfg.MaxOps, Timeout: cfg.Timeout, Seed: cfg.Seed,
		Slots: cl.Instances(), Addr: cl.Addr, Gen: cl.Gen,
	}
	watched := make(chan struct{})
	if onCluster {
		wi := NewWitness(w, h, clock, cfg.Clients, witnessKeys, cl.KeyOn(witnessKeys))
		wi.Register()
		in.Witness = wi
		go func() {
			defer close(watched)
			wi.Watch(loadCtx)
		}()
		keys = append(keys, witnessKeys...) // in the final checks
	} else {
		close(watched)
	}
	injected := make(chan struct{})
	go func() {
		defer close(injected)
		in.Run(loadCtx, deadline)
	}()

	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		w.Run(loadCtx, h, clock)
	}()
	progress(loadCtx, cfg.Out, h, func() int { mu.Lock(); defer mu.Unlock(); return len(faults) }, loaded)
	<-loaded
	stopLoad() // MaxOps reached: end the schedule too
	<-injected // every fault healed
	<-watched
	elapsed := time.Duration(clock.Now())
	if ctx.Err() != nil {
		return nil, errInterrupted
	}

	// Final state: let the system recover, read the store, then every
	// instance until they agree with it.
	fmt.Fprintf(cfg.Out, "load stopped after %v; settling %v\n", elapsed.Round(time.Millisecond), cfg.Settle)
	if !sleep(ctx, cfg.Settle) {
		return nil, errInterrupted
	}
	if err := cl.WaitRedisOK(ctx, 15*time.Second); err != nil {
		return nil, err
	}
	final, err := cl.ReadStore(ctx, keys)
	if err != nil {
		return nil, err
	}
	answers, rounds := converge(ctx, cl, keys, final)
	if ctx.Err() != nil {
		return nil, errInterrupted
	}
	cl.Stop()

	rec := &Recording{Redis: cfg.Redis, Mode: cfg.Mode, Seed: cfg.Seed, Started: clock.Start(), Ops: h.Ops(), Faults: faults, Final: final, Answers: answers, Rounds: rounds, Elapsed: elapsed}
	if err := rec.Write(filepath.Join(cfg.Dir, "history.jsonl.gz")); err != nil {
		return nil, err
	}
	r := analyze(cfg, rec)
	r.JSONPath = cfg.JSON
	if err := r.WriteJSON(cfg.JSON); err != nil {
		return nil, fmt.Errorf("cannot write report: %w", err)
	}
	return r, nil
}

// Replay checks a recorded run again, with cfg's bounds, and writes the
// report to cfg.JSON (default: coherence-replay.json next to the recording).
func Replay(cfg Config, path string) (*Report, error) {
	rec, err := ReadRecording(path)
	if err != nil {
		return nil, err
	}
	cfg.Dir = filepath.Dir(path)
	if cfg.JSON == "" {
		cfg.JSON = filepath.Join(cfg.Dir, "coherence-replay.json")
	}
	r := analyze(cfg, rec)
	r.JSONPath = cfg.JSON
	if err := r.WriteJSON(cfg.JSON); err != nil {
		return nil, fmt.Errorf("cannot write report: %w", err)
	}
	return r, nil
}

// progress prints a line a second until done is closed.
func progress(ctx context.Context, out io.Writer, h *History, faults func() int, done <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	start, last := time.Now(), 0
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		ops, stale := h.Counts()
		fmt.Fprintf(out, "%5.0fs  %6d ops/s  %7d ops  faults %2d  stale reads %d\n",
			time.Since(start).Seconds(), ops-last, ops, faults(), stale)
		last = ops
	}
}

// converge GETs every key from every instance until all agree with the
// store, at most 20 rounds 250 ms apart, and returns the last answers.
func converge(ctx context.Context, cl *Cluster, keys []string, final map[string]State) (map[string][]Answer, int) {
	answers := map[string][]Answer{}
	round := 0
	for round < 20 {
		round++
		all := true
		for _, k := range keys {
			answers[k] = Probe(ctx, cl, k)
			if !Converged(final[k], answers[k]) {
				all = false
			}
		}
		if all || !sleep(ctx, 250*time.Millisecond) {
			break
		}
	}
	return answers, round
}

// analyze runs every check.
func analyze(cfg Config, rec *Recording) *Report {
	ops, faults, final, answers := rec.Ops, rec.Faults, rec.Final, rec.Answers
	kinds := Kinds(Schedule)
	if rec.Redis == RedisCluster {
		kinds = Kinds(ClusterSchedule)
	}
	r := &Report{RunDir: cfg.Dir, Redis: cmp.Or(rec.Redis, RedisSingle), Mode: cmp.Or(rec.Mode, ModeService), Kinds: kinds, Seed: rec.Seed, Started: rec.Started, Duration: rec.Elapsed, Bounds: cfg.Bounds, Faults: faults, FaultsByKind: map[string]int{}}
	r.countOps(ops)
	for _, f := range faults {
		r.FaultsByKind[string(f.Kind)]++
		if f.Err != "" {
			r.addViolations([]Violation{{Kind: VFault, Detail: f.Err}})
		}
	}
	c := NewChecker(ops, faults, cfg.Bounds)
	c.Kinds = kinds
	stale, vs := c.Stale()
	r.StaleReads = len(stale)
	r.Staleness = c.Summarize(stale)
	r.addViolations(vs)

	r.Convergence = Convergence{Keys: len(final), Rounds: rec.Rounds}
	for _, k := range c.Keys() {
		r.addViolations(c.LostWrites(k, final[k]))
		if Converged(final[k], answers[k]) {
			r.Convergence.Converged++
			continue
		}
		explained, v := c.NotConverged(k, final[k], answers[k])
		if explained {
			r.Convergence.Explained++
			r.Notes = append(r.Notes, v)
		} else {
			r.addViolations([]Violation{v})
		}
	}

	var ovs []Violation
	r.Outage, ovs = c.Outage(cfg.ProbeInterval, cfg.MaxOutageP99)
	r.addViolations(ovs)

	r.Linearizability = c.Linearizability(stale, cfg.PorcupineTimeout, 2)
	for _, k := range r.Linearizability {
		switch k.Explanation {
		case "unexplained":
			r.addViolations([]Violation{{Kind: VLinearizable, Key: k.Key,
				Detail: "not linearizable even with every read allowed the staleness its bounds allow"}})
		case "undecided":
			r.addViolations([]Violation{{Kind: VUndecided, Key: k.Key,
				Detail: fmt.Sprintf("porcupine did not decide within %v whether the bounds explain the history; raise -porcupine-timeout", cfg.PorcupineTimeout)}})
		}
	}
	sortViolations(r.Violations)
	return r
}
