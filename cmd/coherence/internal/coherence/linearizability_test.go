package coherence

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func TestLinearizability(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		faults      []Fault
		build       func(h *hist)
		result      string
		explanation string
	}{
		{name: "linearizable", result: "ok", build: func(h *hist) {
			h.reg(0, "a@x", 0, 10, 201)
			h.get(1, "a@x", 5, 15) // concurrent with the registration
			h.put(1, "b@x", 20, 30, 200)
			h.get(2, "b@x", 31, 32)
			h.reg(2, "c@x", 33, 34, 409)
			h.del(0, 40, 50, 200)
			h.get(1, "", 55, 56)
			h.put(1, "d@x", 57, 58, 404)
		}},
		{name: "unknown write that happened", result: "ok", build: func(h *hist) {
			h.reg(0, "a@x", 0, 10, 201)
			h.put(1, "b@x", 20, 30, 0)
			h.get(2, "b@x", 100, 101)
		}},
		{name: "unknown write that did not happen", result: "ok", build: func(h *hist) {
			h.reg(0, "a@x", 0, 10, 201)
			h.put(1, "b@x", 20, 30, 0)
			h.get(2, "a@x", 100, 101)
		}},
		{name: "stale read within the steady bound", result: "illegal", explanation: "explained", build: func(h *hist) {
			h.reg(0, "a@x", 0, 10, 201)
			h.put(1, "b@x", 20, 30, 200)
			h.get(2, "a@x", 80, 81)
		}},
		{name: "stale read beyond the steady bound", result: "illegal", explanation: "unexplained", build: func(h *hist) {
			h.reg(0, "a@x", 0, 10, 201)
			h.put(1, "b@x", 20, 30, 200)
			h.get(2, "a@x", 300, 301)
		}},
		{name: "stale read within a stall's bound", result: "illegal", explanation: "explained",
			faults: []Fault{{Kind: RedisStall, Start: 0, End: 2000 * ms}},
			build: func(h *hist) {
				h.reg(0, "a@x", 0, 10, 201)
				h.put(1, "b@x", 20, 30, 200)
				h.get(2, "a@x", 1500, 1501)
			}},
		{name: "new then old while the write is in flight", result: "illegal", explanation: "explained", build: func(h *hist) {
			// Instance 1 sees the update before it is acknowledged,
			// instance 2 still has the old value: not "missed" by the
			// acknowledgement rule, but not linearizable either.
			h.reg(0, "a@x", 0, 10, 201)
			h.put(0, "b@x", 20, 60, 200)
			h.get(1, "b@x", 25, 30)
			h.get(2, "a@x", 35, 40)
		}},
		{name: "stale against a write acknowledged long before a stall", result: "illegal", explanation: "unexplained",
			faults: []Fault{{Kind: RedisStall, Start: 10000 * ms, End: 12000 * ms}},
			build: func(h *hist) {
				h.reg(0, "a@x", 0, 10, 201)
				h.put(1, "b@x", 7490, 7500, 200)
				h.get(2, "a@x", 10010, 10011)
			}},
		{name: "stale against a write acknowledged in a stall, read after its window", result: "illegal", explanation: "explained",
			faults: []Fault{{Kind: RedisStall, Start: 10000 * ms, End: 12000 * ms}},
			build: func(h *hist) {
				h.reg(0, "a@x", 0, 10, 201)
				h.put(1, "b@x", 12490, 12500, 200)
				h.get(2, "a@x", 14800, 14801)
			}},
		{name: "new then old while the write is in flight in a stall", result: "illegal", explanation: "explained",
			faults: []Fault{{Kind: RedisStall, Start: 10000 * ms, End: 12000 * ms}},
			build: func(h *hist) {
				// The old read comes 350 ms after the new one: more than
				// the steady bound, within the stall's.
				h.reg(0, "a@x", 0, 10, 201)
				h.put(0, "b@x", 11000, 11600, 200)
				h.get(1, "b@x", 11050, 11051)
				h.get(2, "a@x", 11400, 11401)
			}},
		{name: "timed-out write read long after a later write", result: "illegal", explanation: "unexplained", build: func(h *hist) {
			h.reg(0, "a@x", 0, 10, 201)
			h.put(0, "x@x", 1000, 3000, 0)
			h.put(0, "b@x", 8000, 8010, 200)
			h.get(1, "x@x", 9000, 9001)
		}},
		{name: "409 while absent", result: "illegal", explanation: "unexplained", build: func(h *hist) {
			h.reg(0, "a@x", 0, 10, 201)
			h.del(1, 20, 30, 200)
			h.reg(2, "b@x", 40, 50, 409)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var h hist
			c.build(&h)
			ck := h.checker(c.faults...)
			stale, _ := ck.Stale()
			got := ck.Linearizability(stale, 5*time.Second, 1)
			if len(got) != 1 || got[0].Result != c.result || got[0].Explanation != c.explanation {
				t.Errorf("got %+v; want result %s, explanation %q", got, c.result, c.explanation)
			}
		})
	}
}

func TestAllowance(t *testing.T) {
	t.Parallel()
	var h hist
	h.reg(0, "a@x", 0, 10, 201)
	h.put(1, "b@x", 10990, 11000, 200) // in the stall's window: 2.7 s
	h.put(1, "c@x", 15990, 16000, 200) // after it: 100 ms
	reads := map[int]time.Duration{
		h.get(2, "", 900, 901):     890*time.Millisecond - 1, // may not miss a@x
		h.get(2, "", 13000, 13001): 2700 * time.Millisecond,  // may miss b@x; a@x is further back than any bound
		h.get(2, "", 16050, 16051): 2700 * time.Millisecond,  // may miss c@x; b@x is further back than any bound
		h.get(2, "", 16200, 16201): 200*time.Millisecond - 1, // may not miss c@x
	}
	allow := h.checker(Fault{Kind: RedisStall, Start: 10000 * ms, End: 12000 * ms}).allowance("k")
	for id, want := range reads {
		if got := allow(&h.ops[id]); got != want {
			t.Errorf("read at %v: got allowance %v; want %v", time.Duration(h.ops[id].Invoke), got, want)
		}
	}
}

// A write acknowledged before a master kill ended may be missed until the
// failover bound after the promotion, so the allowance reaches back that
// far: past the 3 s that bound alone would give.
func TestAllowanceCountsFromThePromotion(t *testing.T) {
	t.Parallel()
	var h hist
	h.reg(0, "a@x", 0, 10, 201)
	h.put(1, "b@x", 990, 1000, 200) // acknowledged before the kill, lost by the failover
	reads := map[int]time.Duration{
		h.get(2, "", 5000, 5001): 4990*time.Millisecond - 1, // 1 s after the promotion: may miss b@x, not a@x
		h.get(2, "", 8000, 8001): 6000 * time.Millisecond,   // 4 s after it: 6 s back does not reach b@x
	}
	allow := h.checker(Fault{Kind: MasterKillHeld, Start: 800 * ms, End: 4000 * ms}).allowance("k")
	for id, want := range reads {
		if got := allow(&h.ops[id]); got != want {
			t.Errorf("read at %v: got allowance %v; want %v", time.Duration(h.ops[id].Invoke), got, want)
		}
	}
}

// TestUndecidedBreaksAPromise: when porcupine cannot decide in time,
// nothing is proven, and the run fails.
func TestUndecidedBreaksAPromise(t *testing.T) {
	t.Parallel()
	var h hist
	h.reg(0, "a@x", 0, 10, 201)
	for i := range 24 {
		h.put(i%3, fmt.Sprintf("u%d@x", i), int64(100+i), int64(150+i), 0) // timeouts
	}
	h.get(1, "u0@x", 1000, 1001)
	h.get(1, "u1@x", 2000, 2001)
	h.get(1, "u0@x", 3000, 3001) // u0 twice, around u1: not linearizable
	r := analyze(Config{Bounds: testBounds, ProbeInterval: 500 * time.Millisecond, MaxOutageP99: 50 * time.Millisecond, PorcupineTimeout: 100 * time.Millisecond},
		&Recording{Ops: h.ops, Final: map[string]State{"k": {Exists: true, Email: "u0@x"}},
			Answers: map[string][]Answer{"k": {{Status: 200, Email: "u0@x"}}}})
	if l := r.Linearizability; len(l) != 1 || l[0].Explanation != "undecided" {
		t.Fatalf("got %+v; want undecided", l)
	}
	if !r.Broken || r.ViolationsByKind[VUndecided] != 1 {
		t.Errorf("got broken %v, violations %v; want broken, 1 %s", r.Broken, r.ViolationsByKind, VUndecided)
	}
}

// TestReduceReads checks on random histories that dropping the implied
// reads never changes porcupine's verdict, and that it drops some.
func TestReduceReads(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	dropped, illegal := 0, 0
	for n := range 1000 {
		ops := randomHistory(rng, 24)
		var shift func(*Op) time.Duration
		if n%2 == 1 { // reads allowed up to 5 ms stale, varying
			shift = func(r *Op) time.Duration { return time.Duration(r.ID%6) * time.Millisecond }
		}
		reduced, unreduced := operations(ops, allIDs(ops), (*Op).AckTime, shift), unreducedOperations(ops, shift)
		want := porcupine.CheckOperations(userModel, unreduced)
		if got := porcupine.CheckOperations(userModel, reduced); got != want {
			t.Fatalf("history %d: got %v reduced; want %v as unreduced\n%v", n, got, want, ops)
		}
		dropped += len(unreduced) - len(reduced)
		if !want {
			illegal++
		}
	}
	if dropped == 0 || illegal < 100 || illegal > 900 {
		t.Errorf("got %d reads dropped, %d of 1000 histories illegal; want some of each", dropped, illegal)
	}
}

func allIDs(ops []Op) []int {
	ids := make([]int, len(ops))
	for i := range ids {
		ids[i] = i
	}
	return ids
}

// unreducedOperations is operations without reduceReads.
func unreducedOperations(ops []Op, shift func(*Op) time.Duration) []porcupine.Operation {
	var out []porcupine.Operation
	for i := range ops {
		one := operations(ops, []int{i}, (*Op).AckTime, shift) // a single op is never reduced away
		out = append(out, one...)
	}
	return out
}

// randomHistory runs a user through random writes on a sequential
// timeline and has concurrent reads return the current value or, now and
// then, an older one, with random intervals. A few writes lose their
// answer (status 0), whether or not they happened.
func randomHistory(rng *rand.Rand, n int) []Op {
	type version struct {
		at    int64
		state userState
	}
	versions := []version{{0, userState{}}}
	var ops []Op
	now := int64(1)
	for i := range n {
		now += rng.Int64N(5)
		inv := now
		dur := 1 + rng.Int64N(8)
		op := Op{ID: len(ops), Client: i % 4, Key: "k", Invoke: inv * ms, Return: (inv + dur) * ms}
		cur := versions[len(versions)-1].state
		at := inv + rng.Int64N(dur+1) // the write's linearization point
		switch k := rng.IntN(10); {
		case k < 6:
			op.Kind = Get
			v := cur
			if rng.IntN(4) == 0 { // stale
				v = versions[rng.IntN(len(versions))].state
			}
			op.Status, op.Out = 404, ""
			if v.exists {
				op.Status, op.Out = 200, v.email
			}
		case k < 7:
			op.Kind, op.Email = Register, fmt.Sprintf("e%d", i)
			op.Status = 409
			if !cur.exists {
				op.Status = 201
				versions = append(versions, version{at, userState{true, op.Email}})
			}
		case k < 9:
			op.Kind, op.Email = Update, fmt.Sprintf("e%d", i)
			op.Status = 404
			if cur.exists {
				op.Status = 200
				versions = append(versions, version{at, userState{true, op.Email}})
			}
		default:
			op.Kind = Delete
			op.Status = 404
			if cur.exists {
				op.Status = 200
				versions = append(versions, version{at, userState{}})
			}
		}
		if op.Kind != Get && rng.IntN(12) == 0 {
			op.Status = 0
		}
		ops = append(ops, op)
	}
	return ops
}
