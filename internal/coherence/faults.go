package coherence

import (
	"context"
	"fmt"
	"time"
)

// FaultKind names a fault the checker injects.
type FaultKind string

// The faults, in the order the schedule injects them: the two that the
// short form must include come first.
const (
	RedisRestart FaultKind = "redis-restart" // SHUTDOWN NOSAVE, then start an empty redis-server on the same port
	InstanceKill FaultKind = "kill-9"        // SIGKILL one tiercache instance, restart it with the same flags
	ClientKill   FaultKind = "client-kill"   // CLIENT KILL TYPE normal: Redis drops every client connection
	RedisStall   FaultKind = "redis-stall"   // SIGSTOP redis-server, SIGCONT after Config.Stall
	FlushAll     FaultKind = "flushall"      // FLUSHALL: Redis empties and invalidates every tracked key
)

// Schedule is the fault order; it repeats while time remains.
var Schedule = []FaultKind{RedisRestart, InstanceKill, ClientKill, RedisStall, FlushAll}

// redisDown reports whether the fault makes Redis unreachable, so that GETs
// then measure the degraded path (the breaker).
func (k FaultKind) redisDown() bool { return k == RedisRestart || k == RedisStall }

// breaksRedisWrites reports whether writes during the fault may fail to
// reach Redis and wait in the writer's outbox.
func (k FaultKind) breaksRedisWrites() bool {
	return k == RedisRestart || k == RedisStall || k == ClientKill
}

// Fault is one injected fault. Times are the checker clock's.
type Fault struct {
	Kind  FaultKind `json:"kind"`
	Start int64     `json:"start"`
	End   int64     `json:"end"` // healed: Redis answers again, the restarted instance serves
	// Instance and Gen are the killed process of a kill-9.
	Instance int    `json:"instance,omitempty"`
	Gen      int    `json:"gen,omitempty"`
	Err      string `json:"err,omitempty"` // the fault could not be injected or healed
}

// Target is what the injector acts on; the cluster implements it.
type Target interface {
	RestartRedis() error
	PauseRedis()
	ResumeRedis()
	RedisDo(args ...string) (string, error)
	// KillInstance SIGKILLs instance slot and returns the generation that
	// died; RestartInstance starts it again and returns once it serves.
	KillInstance(slot int) (gen int, err error)
	RestartInstance(slot int) error
	Instances() int
}

// Injector runs the fault schedule.
type Injector struct {
	Target  Target
	Clock   *Clock
	Warmup  time.Duration // steady state before the first fault
	Gap     time.Duration // steady state between a fault's end and the next fault
	Tail    time.Duration // no fault starts later than this before the end
	Stall   time.Duration // how long Redis stays stopped
	Restart time.Duration // downtime of a killed instance before its restart
	OnFault func(Fault)   // called after each fault ends, from the injector's goroutine
}

// Run injects faults from the schedule until ctx ends or until less than
// Tail is left before deadline (checker clock time). It always heals what it
// broke before returning: a stalled Redis is resumed, a killed instance
// restarted.
func (in *Injector) Run(ctx context.Context, deadline int64) []Fault {
	var faults []Fault
	if !sleep(ctx, in.Warmup) {
		return faults
	}
	killSlot := 0
	for i := 0; ; i++ {
		kind := Schedule[i%len(Schedule)]
		if in.Clock.Now()+int64(in.Tail) > deadline {
			return faults
		}
		f := Fault{Kind: kind, Start: in.Clock.Now()}
		var err error
		switch kind {
		case RedisRestart:
			err = in.Target.RestartRedis()
		case ClientKill:
			_, err = in.Target.RedisDo("CLIENT", "KILL", "TYPE", "normal")
		case FlushAll:
			_, err = in.Target.RedisDo("FLUSHALL")
		case RedisStall:
			in.Target.PauseRedis()
			time.Sleep(in.Stall) // not cut short by ctx: Resume must follow Pause
			in.Target.ResumeRedis()
		case InstanceKill:
			f.Instance = killSlot
			killSlot = (killSlot + 1) % in.Target.Instances()
			f.Gen, err = in.Target.KillInstance(f.Instance)
			if err == nil {
				time.Sleep(in.Restart)
				err = in.Target.RestartInstance(f.Instance)
			}
		}
		f.End = in.Clock.Now()
		if err != nil {
			f.Err = fmt.Sprintf("%s: %v", kind, err)
		}
		faults = append(faults, f)
		if in.OnFault != nil {
			in.OnFault(f)
		}
		if err != nil || !sleep(ctx, in.Gap) {
			return faults
		}
	}
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
