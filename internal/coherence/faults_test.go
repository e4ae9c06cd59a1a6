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
