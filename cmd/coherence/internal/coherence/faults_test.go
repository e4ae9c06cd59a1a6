package coherence

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTarget records the injector's calls.
type fakeTarget struct {
	mu      sync.Mutex
	calls   []string
	paused  bool
	killErr error
}

func (f *fakeTarget) record(s string) { f.mu.Lock(); f.calls = append(f.calls, s); f.mu.Unlock() }

func (f *fakeTarget) RestartRedis() error { f.record("restart-redis"); return nil }
func (f *fakeTarget) PauseRedis()         { f.record("pause"); f.paused = true }
func (f *fakeTarget) ResumeRedis()        { f.record("resume"); f.paused = false }
func (f *fakeTarget) RedisDo(args ...string) (string, error) {
	f.record(strings.Join(args, " "))
	return "OK", nil
}
func (f *fakeTarget) KillInstance(slot int) (int, error) {
	f.record("kill " + string(rune('0'+slot)))
	return 0, f.killErr
}
func (f *fakeTarget) RestartInstance(slot int) error {
	f.record("start " + string(rune('0'+slot)))
	return nil
}
func (f *fakeTarget) Instances() int { return 2 }

func TestInjector(t *testing.T) {
	t.Parallel()
	tgt := &fakeTarget{}
	clock := NewClock()
	in := &Injector{Target: tgt, Clock: clock, Warmup: time.Millisecond, Gap: 5 * time.Millisecond,
		Tail: 20 * time.Millisecond, Stall: 2 * time.Millisecond, Restart: time.Millisecond}
	deadline := clock.Now() + int64(150*time.Millisecond)
	faults := in.Run(context.Background(), deadline)
	if len(faults) < len(Schedule)+2 {
		t.Fatalf("got %d faults; want at least %d", len(faults), len(Schedule)+2)
	}
	for i, f := range faults {
		if want := Schedule[i%len(Schedule)]; f.Kind != want {
			t.Errorf("fault %d is %s; want %s", i, f.Kind, want)
		}
		if f.End < f.Start || f.Start+int64(in.Tail) > deadline {
			t.Errorf("fault %d from %d to %d: want start+tail before %d and end after start", i, f.Start, f.End, deadline)
		}
		if f.Kind == RedisStall && time.Duration(f.End-f.Start) < in.Stall {
			t.Errorf("stall lasted %v; want at least %v", time.Duration(f.End-f.Start), in.Stall)
		}
	}
	if faults[1].Instance != 0 || faults[len(Schedule)+1].Instance != 1 {
		t.Errorf("killed instances %d then %d; want 0 then 1", faults[1].Instance, faults[len(Schedule)+1].Instance)
	}
	want := []string{"restart-redis", "kill 0", "start 0", "CLIENT KILL TYPE normal", "pause", "resume", "FLUSHALL", "restart-redis", "kill 1", "start 1"}
	if got := tgt.calls[:len(want)]; !slices.Equal(got, want) {
		t.Errorf("got calls %q; want %q", got, want)
	}
	if tgt.paused {
		t.Error("Redis left paused")
	}
}

func TestInjectorStopsOnFailure(t *testing.T) {
	t.Parallel()
	tgt := &fakeTarget{killErr: errors.New("no such process")}
	clock := NewClock()
	in := &Injector{Target: tgt, Clock: clock, Warmup: time.Millisecond, Gap: time.Millisecond, Tail: time.Millisecond}
	faults := in.Run(context.Background(), clock.Now()+int64(time.Second))
	if len(faults) != 2 || faults[1].Err == "" || slices.Contains(tgt.calls, "start 0") {
		t.Errorf("got faults %+v, calls %q; want a failed kill-9 last, no restart", faults, tgt.calls)
	}
}

func TestInjectorCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	clock := NewClock()
	in := &Injector{Target: &fakeTarget{}, Clock: clock, Warmup: time.Hour}
	if faults := in.Run(ctx, clock.Now()+int64(time.Hour)); len(faults) != 0 {
		t.Errorf("got %d faults after cancel; want none", len(faults))
	}
}

// fakeNodes is a cluster of three masters m0..m2 with replicas r0..r2 that
// records the injector's calls. A killed master's replica takes over.
type fakeNodes struct {
	mu      sync.Mutex
	calls   []string
	masters []string
	replica map[string]string
	paused  map[string]bool
	offsets map[string]string // INFO replication of a node
}

func newFakeNodes() *fakeNodes {
	return &fakeNodes{masters: []string{"m0", "m1", "m2"},
		replica: map[string]string{"m0": "r0", "m1": "r1", "m2": "r2"}, paused: map[string]bool{},
		offsets: map[string]string{"m0": "role:master\r\nmaster_repl_offset:1000\r\n", "r0": "second_repl_offset:901\r\n"}}
}

func (n *fakeNodes) record(s string) { n.mu.Lock(); n.calls = append(n.calls, s); n.mu.Unlock() }

func (n *fakeNodes) Masters() ([]string, error) { return slices.Clone(n.masters), nil }
func (n *fakeNodes) ReplicaOf(m string) (string, error) {
	return n.replica[m], nil
}
func (n *fakeNodes) Kill(node string) error { n.record("kill " + node); return nil }
func (n *fakeNodes) Pause(node string)      { n.record("pause " + node); n.paused[node] = true }
func (n *fakeNodes) Resume(node string)     { n.record("resume " + node); delete(n.paused, node) }
func (n *fakeNodes) Restart(node string) error {
	n.record("restart " + node)
	return nil
}
func (n *fakeNodes) WaitFailover(m string) (string, error) {
	n.record("failover " + m)
	r := n.replica[m]
	n.masters[slices.Index(n.masters, m)] = r
	n.replica[r] = m
	delete(n.replica, m)
	return r, nil
}
func (n *fakeNodes) WaitOK() error { n.record("ok"); return nil }
func (n *fakeNodes) Do(node string, args ...string) (string, error) {
	if args[0] == "INFO" {
		return n.offsets[node], nil
	}
	n.record(node + " " + strings.Join(args, " "))
	return "OK", nil
}

type fakeWitness struct{ n *fakeNodes }

func (w fakeWitness) Write(master string) { w.n.record("witness " + master) }

// On a cluster the injector acts on the masters in turn: a master kill
// ends with the promotion and is followed by the node's return; the held
// kill stops the replica and cuts its link before the witness write it
// must miss; FLUSHALL goes to every master.
func TestInjectorCluster(t *testing.T) {
	t.Parallel()
	nodes := newFakeNodes()
	tgt := &fakeTarget{}
	clock := NewClock()
	in := &Injector{Target: tgt, Clock: clock, Warmup: time.Millisecond, Gap: time.Millisecond,
		Tail: time.Millisecond, Stall: 2 * time.Millisecond, Restart: time.Millisecond,
		Schedule: ClusterSchedule, Nodes: nodes, Witness: fakeWitness{nodes}, Hold: 3 * time.Millisecond, NodeDowntime: time.Millisecond}
	deadline := clock.Now() + int64(400*time.Millisecond)
	faults := in.Run(context.Background(), deadline)
	kinds := Kinds(ClusterSchedule)
	var got []FaultKind
	for _, f := range faults[:min(len(faults), 8)] {
		got = append(got, f.Kind)
		if f.Err != "" {
			t.Errorf("fault %s failed: %s", f.Kind, f.Err)
		}
	}
	want := []FaultKind{MasterKill, NodeReturn, InstanceKill, MasterKillHeld, NodeReturn, ClientKill, RedisStall, FlushAll}
	if !slices.Equal(got, want) {
		t.Fatalf("got faults %v; want %v", got, want)
	}
	if !slices.Equal(kinds, []FaultKind{MasterKill, NodeReturn, InstanceKill, MasterKillHeld, ClientKill, RedisStall, FlushAll}) {
		t.Errorf("Kinds(ClusterSchedule) = %v", kinds)
	}
	if f := faults[0]; f.Node != "m0" || f.Promoted != "r0" || f.Unreplicated != 100 {
		t.Errorf("master kill %+v; want m0 killed, r0 promoted, 100 bytes unreplicated (1000 - 900)", f)
	}
	if f := faults[1]; f.Node != "m0" || f.Start < faults[0].End {
		t.Errorf("node return %+v; want m0, after the promotion at %d", f, faults[0].End)
	}
	if f := faults[3]; f.Node != "m1" || f.Promoted != "r1" || time.Duration(f.End-f.Start) < in.Hold {
		t.Errorf("held master kill %+v; want m1 killed, r1 promoted, lasting more than the hold", f)
	}
	wantCalls := []string{
		"witness m0", "kill m0", "failover m0", "restart m0", "ok", // master-kill, node-return
		"witness m1", "pause r1", "m1 CLIENT KILL TYPE replica", "witness m1", "kill m1", "resume r1", "failover m1", "restart m1", "ok",
		"m2 CLIENT KILL TYPE normal",
		"pause r0", "resume r0", // the masters now: r0, r1, m2
		"r0 FLUSHALL", "r1 FLUSHALL", "m2 FLUSHALL",
	}
	if got := nodes.calls[:min(len(nodes.calls), len(wantCalls))]; !slices.Equal(got, wantCalls) {
		t.Errorf("got calls\n%q\nwant\n%q", got, wantCalls)
	}
	if slices.ContainsFunc(tgt.calls, func(c string) bool { return !strings.HasPrefix(c, "kill ") && !strings.HasPrefix(c, "start ") }) {
		t.Errorf("single-Redis faults on a cluster: %q", tgt.calls)
	}
	if len(nodes.paused) > 0 {
		t.Errorf("left paused: %v", nodes.paused)
	}
}

// A failed promotion stops the schedule, but the killed node still returns.
func TestInjectorClusterFailoverFails(t *testing.T) {
	t.Parallel()
	nodes := &failingFailover{newFakeNodes()}
	clock := NewClock()
	in := &Injector{Target: &fakeTarget{}, Clock: clock, Warmup: time.Millisecond, Gap: time.Millisecond,
		Tail: time.Millisecond, Schedule: ClusterSchedule, Nodes: nodes}
	faults := in.Run(context.Background(), clock.Now()+int64(time.Second))
	if len(faults) != 2 || faults[0].Err == "" || faults[1].Kind != NodeReturn || faults[1].Err != "" ||
		!slices.Contains(nodes.calls, "restart m0") {
		t.Errorf("got faults %+v, calls %q; want a failed master-kill, then m0's return, then the end", faults, nodes.calls)
	}
}

type failingFailover struct{ *fakeNodes }

func (f *failingFailover) WaitFailover(m string) (string, error) {
	return "", errors.New("no replica took over")
}

func TestSpreadKeys(t *testing.T) {
	t.Parallel()
	// Keys land on masters by the last digit: 0-3 on a, 4-8 on b, 9 on c.
	masterOf := func(key string) (string, error) {
		if !strings.HasPrefix(key, RedisPrefix+"hot-") {
			return "", errors.New("want the Redis key, with its prefix")
		}
		switch d := key[len(key)-1]; {
		case d <= '3':
			return "a", nil
		case d <= '8':
			return "b", nil
		}
		return "c", nil
	}
	keys, err := SpreadKeys("hot", 6, 3, masterOf)
	if want := []string{"hot-0", "hot-1", "hot-4", "hot-5", "hot-9", "hot-19"}; err != nil || !slices.Equal(keys, want) {
		t.Errorf("SpreadKeys = %q, %v; want %q", keys, err, want)
	}
	if _, err := SpreadKeys("hot", 3, 3, func(string) (string, error) { return "a", nil }); err == nil {
		t.Error("SpreadKeys on one master of three: got no error; want one")
	}
}
