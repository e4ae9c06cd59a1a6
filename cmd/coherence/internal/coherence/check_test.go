package coherence

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

// hist builds a synthetic history; times are in milliseconds.
type hist struct{ ops []Op }

func (h *hist) op(inst int, kind Kind, key, email string, invoke, ret int64, status int) int {
	id := len(h.ops)
	h.ops = append(h.ops, Op{ID: id, Client: inst, Instance: inst, Kind: kind, Key: key, Email: email,
		Invoke: invoke * ms, Return: ret * ms, Status: status})
	return id
}

func (h *hist) reg(inst int, email string, invoke, ret int64, status int) int {
	return h.op(inst, Register, "k", email, invoke, ret, status)
}

func (h *hist) put(inst int, email string, invoke, ret int64, status int) int {
	return h.op(inst, Update, "k", email, invoke, ret, status)
}

func (h *hist) del(inst int, invoke, ret int64, status int) int {
	return h.op(inst, Delete, "k", "", invoke, ret, status)
}

// get records a read that returned email, or 404 for "".
func (h *hist) get(inst int, email string, invoke, ret int64) int {
	status := 200
	if email == "" {
		status = 404
	}
	id := h.op(inst, Get, "k", "", invoke, ret, status)
	h.ops[id].Out = email
	return id
}

var testBounds = Bounds{
	Steady: 100 * time.Millisecond, Stall: 2700 * time.Millisecond, ConnLoss: 1800 * time.Millisecond,
	Kill: 100 * time.Millisecond, LostWriter: time.Hour, Drain: 700 * time.Millisecond, StoreTimeout: 2 * time.Second,
	Failover: 3 * time.Second,
}

func (h *hist) checker(faults ...Fault) *Checker { return NewChecker(h.ops, faults, testBounds) }

func TestMissedWrites(t *testing.T) {
	t.Parallel()
	type tc struct {
		name    string
		build   func(h *hist) (read int, want []int)
		problem bool
	}
	cases := []tc{
		{name: "fresh read", build: func(h *hist) (int, []int) {
			h.reg(0, "a@x", 0, 10, 201)
			return h.get(1, "a@x", 20, 25), nil
		}},
		{name: "missed update", build: func(h *hist) (int, []int) {
			h.reg(0, "a@x", 0, 10, 201)
			w := h.put(0, "b@x", 20, 30, 200)
			return h.get(1, "a@x", 40, 45), []int{w}
		}},
		{name: "update concurrent with the value's write is not missed", build: func(h *hist) (int, []int) {
			h.reg(0, "a@x", 0, 10, 201)
			h.put(0, "b@x", 5, 30, 200)
			return h.get(1, "a@x", 40, 45), nil
		}},
		{name: "update acknowledged after the read began is not missed", build: func(h *hist) (int, []int) {
			h.reg(0, "a@x", 0, 10, 201)
			h.put(0, "b@x", 20, 41, 200)
			return h.get(1, "a@x", 40, 45), nil
		}},
		{name: "not found misses the registration", build: func(h *hist) (int, []int) {
			w := h.reg(0, "a@x", 0, 10, 201)
			return h.get(1, "", 20, 25), []int{w}
		}},
		{name: "not found explained by a delete in flight", build: func(h *hist) (int, []int) {
			h.reg(0, "a@x", 0, 10, 201)
			h.del(2, 15, 50, 200)
			return h.get(1, "", 20, 25), nil
		}},
		{name: "not found explained by a delete of unknown outcome", build: func(h *hist) (int, []int) {
			h.reg(0, "a@x", 0, 10, 201)
			h.del(2, 12, 14, 0)
			h.put(0, "b@x", 16, 18, 200)
			return h.get(1, "", 20, 25), nil
		}},
		{name: "not found misses the registration after a delete", build: func(h *hist) (int, []int) {
			h.reg(0, "a@x", 0, 10, 201)
			h.del(0, 20, 30, 200)
			w := h.reg(0, "b@x", 40, 50, 201)
			return h.get(1, "", 60, 65), []int{w}
		}},
		{name: "a 409 and a 404 are not writes", build: func(h *hist) (int, []int) {
			h.reg(0, "a@x", 0, 10, 201)
			h.reg(0, "b@x", 20, 30, 409)
			h.del(0, 20, 30, 200)
			h.put(0, "c@x", 40, 50, 404)
			return h.get(1, "", 60, 65), nil
		}},
		{name: "missed a delete", build: func(h *hist) (int, []int) {
			h.reg(0, "a@x", 0, 10, 201)
			w := h.del(0, 20, 30, 200)
			return h.get(1, "a@x", 40, 45), []int{w}
		}},
		{name: "value of an unknown write orders nothing", build: func(h *hist) (int, []int) {
			h.reg(0, "a@x", 0, 10, 0)
			h.put(0, "b@x", 20, 30, 200)
			return h.get(1, "a@x", 40, 45), nil
		}},
		{name: "value nobody wrote", problem: true, build: func(h *hist) (int, []int) {
			h.reg(0, "a@x", 0, 10, 201)
			return h.get(1, "z@x", 20, 25), nil
		}},
		{name: "value of a refused registration", problem: true, build: func(h *hist) (int, []int) {
			h.reg(0, "a@x", 0, 10, 201)
			h.reg(0, "b@x", 12, 14, 409)
			return h.get(1, "b@x", 20, 25), nil
		}},
		{name: "value from the future", problem: true, build: func(h *hist) (int, []int) {
			r := h.get(1, "a@x", 0, 5)
			h.reg(0, "a@x", 10, 20, 201)
			return r, nil
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var h hist
			r, want := c.build(&h)
			ck := h.checker()
			got, problem := missedWrites(h.ops, ck.idx, ck.effective, &h.ops[r])
			if (problem != "") != c.problem {
				t.Fatalf("got problem %q; want problem %v", problem, c.problem)
			}
			if !slices.Equal(got, want) {
				t.Errorf("got missed %v; want %v", got, want)
			}
		})
	}
}

// kinds returns the kinds of the violations.
func kinds(vs []Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Kind)
	}
	return out
}

func TestReadYourWrites(t *testing.T) {
	t.Parallel()
	t.Run("same process flagged", func(t *testing.T) {
		var h hist
		h.reg(0, "a@x", 0, 10, 201)
		h.put(1, "b@x", 20, 30, 200)
		h.get(1, "a@x", 31, 32) // 1 ms after its own write: within the steady bound, still a violation
		stale, vs := h.checker().Stale()
		if len(stale) != 1 || !slices.Equal(kinds(vs), []string{VReadYourWrites}) {
			t.Errorf("got %d stale, violations %v; want 1 stale, [%s]", len(stale), kinds(vs), VReadYourWrites)
		}
	})
	t.Run("other instance within bound is not", func(t *testing.T) {
		var h hist
		h.reg(0, "a@x", 0, 10, 201)
		h.put(1, "b@x", 20, 30, 200)
		h.get(2, "a@x", 31, 32)
		stale, vs := h.checker().Stale()
		if len(stale) != 1 || len(vs) != 0 {
			t.Errorf("got %d stale, violations %v; want 1 stale, none", len(stale), kinds(vs))
		}
	})
	t.Run("restarted process is another process", func(t *testing.T) {
		var h hist
		h.reg(0, "a@x", 0, 10, 201)
		h.put(1, "b@x", 20, 30, 200)
		r := h.get(1, "a@x", 31, 32)
		h.ops[r].Gen = 1
		_, vs := h.checker().Stale()
		if len(vs) != 0 {
			t.Errorf("got violations %v; want none", kinds(vs))
		}
	})
}

func TestStaleClasses(t *testing.T) {
	t.Parallel()
	// A read 500 ms stale: beyond the steady bound, within a fault's.
	build := func() *hist {
		var h hist
		h.reg(0, "a@x", 0, 10, 201)
		h.put(1, "b@x", 20, 1000, 200)
		h.get(2, "a@x", 1500, 1501)
		return &h
	}
	t.Run("steady state", func(t *testing.T) {
		h := build()
		stale, vs := h.checker().Stale()
		if len(stale) != 1 || stale[0].Class != ClassSteady || stale[0].Staleness != 500*time.Millisecond {
			t.Fatalf("got %+v; want one steady read 500ms stale", stale)
		}
		if !slices.Equal(kinds(vs), []string{VStale}) {
			t.Errorf("got violations %v; want [%s]", kinds(vs), VStale)
		}
	})
	t.Run("in a stall window", func(t *testing.T) {
		h := build()
		stale, vs := h.checker(Fault{Kind: RedisStall, Start: 900 * ms, End: 1200 * ms}).Stale()
		if len(stale) != 1 || stale[0].Class != string(RedisStall) || len(vs) != 0 {
			t.Errorf("got %+v, violations %v; want one redis-stall read, none", stale, kinds(vs))
		}
	})
	t.Run("after the window", func(t *testing.T) {
		h := build()
		stale, vs := h.checker(Fault{Kind: FlushAll, Start: -2000 * ms, End: -1000 * ms}).Stale()
		if len(stale) != 1 || stale[0].Class != ClassSteady || !slices.Equal(kinds(vs), []string{VStale}) {
			t.Errorf("got %+v, violations %v; want one steady read, [%s]", stale, kinds(vs), VStale)
		}
	})
	t.Run("lost writer", func(t *testing.T) {
		// Instance 1 acknowledges a write during a Redis restart and is
		// killed before it can republish it; instance 2 serves the old
		// value long after.
		var h hist
		h.reg(0, "a@x", 0, 10, 201)
		h.put(1, "b@x", 1000, 1010, 200)
		h.get(2, "a@x", 30000, 30001)
		faults := []Fault{
			{Kind: RedisRestart, Start: 990 * ms, End: 1100 * ms},
			{Kind: InstanceKill, Start: 1200 * ms, End: 1500 * ms, Instance: 1, Gen: 0},
		}
		stale, vs := h.checker(faults...).Stale()
		if len(stale) != 1 || stale[0].Class != ClassLostWriter || len(vs) != 0 {
			t.Errorf("got %+v, violations %v; want one lost-writer read, none", stale, kinds(vs))
		}
	})
	t.Run("killed writer whose outbox had drained is not excused", func(t *testing.T) {
		var h hist
		h.reg(0, "a@x", 0, 10, 201)
		h.put(1, "b@x", 1900, 1910, 200) // acknowledged 800 ms after Redis was back
		h.get(2, "a@x", 30000, 30001)
		faults := []Fault{
			{Kind: RedisRestart, Start: 990 * ms, End: 1100 * ms},
			{Kind: InstanceKill, Start: 2200 * ms, End: 2500 * ms, Instance: 1, Gen: 0},
		}
		stale, vs := h.checker(faults...).Stale()
		if len(stale) != 1 || stale[0].Class != string(RedisRestart) || !slices.Equal(kinds(vs), []string{VStale}) {
			t.Errorf("got %+v, violations %v; want one redis-restart read, [%s]", stale, kinds(vs), VStale)
		}
	})
	t.Run("killed writer without a Redis fault is not excused", func(t *testing.T) {
		var h hist
		h.reg(0, "a@x", 0, 10, 201)
		h.put(1, "b@x", 1000, 1010, 200)
		h.get(2, "a@x", 30000, 30001)
		stale, vs := h.checker(Fault{Kind: InstanceKill, Start: 5000 * ms, End: 5500 * ms, Instance: 1}).Stale()
		if len(stale) != 1 || stale[0].Class != ClassSteady || !slices.Equal(kinds(vs), []string{VStale}) {
			t.Errorf("got %+v, violations %v; want one steady read, [%s]", stale, kinds(vs), VStale)
		}
	})
}

func TestLostWrites(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		build func(h *hist)
		final State
		lost  int
	}{
		{name: "last update kept", final: State{true, "b@x"}, build: func(h *hist) {
			h.reg(0, "a@x", 0, 10, 201)
			h.put(1, "b@x", 20, 30, 200)
		}},
		{name: "concurrent updates either wins", final: State{true, "b@x"}, build: func(h *hist) {
			h.reg(0, "a@x", 0, 10, 201)
			h.put(1, "b@x", 20, 30, 200)
			h.put(2, "c@x", 25, 35, 200)
		}},
		{name: "lost update", final: State{true, "a@x"}, lost: 1, build: func(h *hist) {
			h.reg(0, "a@x", 0, 10, 201)
			h.put(1, "b@x", 20, 30, 200)
		}},
		{name: "lost delete", final: State{true, "a@x"}, lost: 1, build: func(h *hist) {
			h.reg(0, "a@x", 0, 10, 201)
			h.del(1, 20, 30, 200)
		}},
		{name: "lost registration", final: State{}, lost: 1, build: func(h *hist) {
			h.reg(0, "a@x", 0, 10, 201)
		}},
		{name: "delete kept", final: State{}, build: func(h *hist) {
			h.reg(0, "a@x", 0, 10, 201)
			h.del(1, 20, 30, 200)
		}},
		{name: "unknown write may win", final: State{true, "c@x"}, build: func(h *hist) {
			h.reg(0, "a@x", 0, 10, 201)
			h.put(2, "c@x", 15, 16, 0)
			h.put(1, "b@x", 20, 30, 200)
		}},
		{name: "unknown delete may win", final: State{}, build: func(h *hist) {
			h.reg(0, "a@x", 0, 10, 201)
			h.del(2, 15, 16, 503)
			h.put(1, "b@x", 20, 30, 200)
		}},
		{name: "never registered", final: State{}, build: func(h *hist) {
			h.put(1, "b@x", 20, 30, 404)
		}},
		{name: "value nobody wrote", final: State{true, "z@x"}, lost: 1, build: func(h *hist) {
			h.reg(0, "a@x", 0, 10, 201)
		}},
		{name: "value of a refused registration", final: State{true, "b@x"}, lost: 1, build: func(h *hist) {
			h.reg(0, "a@x", 0, 10, 201)
			h.reg(1, "b@x", 20, 30, 409)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var h hist
			c.build(&h)
			vs := h.checker().LostWrites("k", c.final)
			if len(vs) != c.lost {
				t.Errorf("got %d violations %+v; want %d", len(vs), vs, c.lost)
			}
		})
	}
}

func TestConvergence(t *testing.T) {
	t.Parallel()
	final := State{true, "b@x"}
	same := []Answer{{Instance: 0, Status: 200, Email: "b@x"}, {Instance: 1, Status: 200, Email: "b@x"}}
	if !Converged(final, same) {
		t.Errorf("got not converged for %v", same)
	}
	for _, as := range [][]Answer{
		{{Instance: 0, Status: 200, Email: "b@x"}, {Instance: 1, Status: 200, Email: "a@x"}},
		{{Instance: 0, Status: 200, Email: "b@x"}, {Instance: 1, Status: 404}},
		{{Instance: 0, Status: 200, Email: "b@x"}, {Instance: 1, Status: 503}},
		{{Instance: 0, Status: 200, Email: "b@x"}, {Instance: 1, Err: "timeout"}},
	} {
		if Converged(final, as) {
			t.Errorf("got converged for %v; want not", as)
		}
	}

	var h hist
	h.reg(0, "a@x", 0, 10, 201)
	w := h.put(1, "b@x", 1000, 1050, 0) // in flight when its process was killed
	_ = w
	kill := Fault{Kind: InstanceKill, Start: 1020 * ms, End: 1500 * ms, Instance: 1}
	stale := []Answer{{Instance: 0, Status: 200, Email: "a@x"}}
	if explained, _ := h.checker(kill).NotConverged("k", final, stale); !explained {
		t.Errorf("got unexplained; want explained by the killed writer")
	}
	if explained, _ := h.checker().NotConverged("k", final, stale); explained {
		t.Errorf("got explained without a kill; want unexplained")
	}

	// A killed writer's delete long ago does not explain a later absence
	// that instances fail to show.
	var g hist
	g.reg(0, "a@x", 0, 10, 201)
	g.del(2, 20, 25, 0)
	g.reg(0, "b@x", 3000, 3010, 201)
	g.del(0, 4000, 4010, 200)
	kill = Fault{Kind: InstanceKill, Start: 22 * ms, End: 300 * ms, Instance: 2}
	if explained, _ := g.checker(kill).NotConverged("k", State{}, []Answer{{Instance: 1, Status: 200, Email: "b@x"}}); explained {
		t.Errorf("got explained by a delete that acknowledged writes followed; want unexplained")
	}
}

func TestOutage(t *testing.T) {
	t.Parallel()
	var h hist
	for i := range int64(100) {
		h.get(0, "", 100+i, 101+i) // 1 ms each
	}
	h.get(1, "", 150, 400)   // 250 ms
	h.get(1, "", 5000, 9000) // outside the window
	r := h.op(2, Get, "k", "", 180, 190, 503)
	_ = r
	c := h.checker(Fault{Kind: RedisRestart, Start: 100 * ms, End: 150 * ms})
	o, vs := c.Outage(500*time.Millisecond, 50*time.Millisecond)
	if o.GETs != 102 || o.P50 != time.Millisecond || o.Max != 250*time.Millisecond || o.Errors != 1 {
		t.Errorf("got %+v; want 102 GETs, p50 1ms, max 250ms, 1 error", o)
	}
	if !slices.Equal(kinds(vs), []string{VOutage5xx}) {
		t.Errorf("got violations %v; want [%s] (p99 is %v)", kinds(vs), VOutage5xx, o.P99)
	}
	for range 5 {
		h.get(1, "", 150, 400)
	}
	_, vs = h.checker(Fault{Kind: RedisStall, Start: 100 * ms, End: 150 * ms}).Outage(500*time.Millisecond, 50*time.Millisecond)
	if !slices.Equal(kinds(vs), []string{VOutage5xx, VOutageP99}) {
		t.Errorf("got violations %v; want [%s %s]", kinds(vs), VOutage5xx, VOutageP99)
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {1, 1}} {
		if got := Percentile(d, c.p); got != c.want {
			t.Errorf("Percentile(1..100, %v) = %v; want %v", c.p, got, c.want)
		}
	}
	if got := Percentile(nil, 99); got != 0 {
		t.Errorf("Percentile(nil) = %v; want 0", got)
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	var h hist
	w := h.reg(0, "a@x", 0, 10, 201)
	r1, r2, r3 := h.get(1, "", 15, 16), h.get(1, "", 210, 211), h.get(1, "", 1010, 1011)
	c := h.checker()
	got := c.Summarize([]StaleRead{
		{Read: r1, Missed: []int{w}, Class: ClassSteady, Staleness: 5 * time.Millisecond, Bound: 100 * time.Millisecond},
		{Read: r2, Missed: []int{w}, Class: ClassSteady, Staleness: 200 * time.Millisecond, Bound: 100 * time.Millisecond},
		{Read: r3, Missed: []int{w}, Class: string(RedisStall), Staleness: time.Second, Bound: 2700 * time.Millisecond},
	})
	if len(got) != len(Schedule)+2 || got[0].Class != ClassSteady || got[len(got)-1].Class != ClassLostWriter {
		t.Fatalf("got classes %+v; want steady, the fault kinds, lost-writer", got)
	}
	if s := got[0]; s.Count != 2 || s.Max != 200*time.Millisecond || s.Beyond != 1 || len(s.Worst) != 2 || s.Worst[0].ID != r2 {
		t.Errorf("got steady %+v; want 2 reads, max 200ms, 1 beyond, worst read %d and its missed write", s, r2)
	}
}

func TestEffective(t *testing.T) {
	t.Parallel()
	var h hist
	acked := h.reg(0, "a@x", 0, 10, 201)
	failed := h.put(1, "b@x", 20, 30, 503)
	killed := h.del(2, 40, 50, 0)
	timedOut := h.put(0, "c@x", 60, 2060, 0)
	refused := h.put(0, "d@x", 70, 71, 404)
	c := h.checker(Fault{Kind: InstanceKill, Start: 45 * ms, End: 300 * ms, Instance: 2})
	grace := int64(commitGrace)
	for _, tc := range []struct {
		id   int
		want int64
	}{{acked, 10 * ms}, {failed, 30*ms + grace}, {killed, 45*ms + grace}, {timedOut, 2060*ms + int64(testBounds.StoreTimeout) + grace}, {refused, Never}} {
		if got := c.effective(&h.ops[tc.id]); got != tc.want {
			t.Errorf("effective(op %d) = %d; want %d", tc.id, got, tc.want)
		}
	}

	// A delete lost with its process no longer excuses "not found" for
	// ever: a registration after the kill's grace is missed.
	var g hist
	g.reg(0, "a@x", 0, 10, 201)
	g.del(2, 20, 25, 0)
	w := g.reg(0, "b@x", 3000, 3010, 201)
	r := g.get(1, "", 3100, 3101)
	kill := Fault{Kind: InstanceKill, Start: 22 * ms, End: 300 * ms, Instance: 2}
	if stale, _ := g.checker(kill).Stale(); len(stale) != 1 || stale[0].Read != r || !slices.Equal(stale[0].Missed, []int{w}) {
		t.Errorf("got %+v; want read %d missing write %d", stale, r, w)
	}
	if stale, _ := g.checker().Stale(); len(stale) != 0 {
		t.Errorf("got %+v without the kill; want none (the delete may happen until 25 ms + store timeout + grace)", stale)
	}
}

// TestLostWriter checks that the excuse of a write lost with its killed
// writer is narrow: a write acknowledged while Redis failed L2 writes whose
// process died before its queue of failed L2 writes drained, or a write
// that the kill interrupted.
func TestLostWriter(t *testing.T) {
	t.Parallel()
	restart := Fault{Kind: RedisRestart, Start: 10000 * ms, End: 10050 * ms} // drained by max(ack, 10050) + 700
	kill := func(at int64) Fault {
		return Fault{Kind: InstanceKill, Instance: 1, Start: at * ms, End: (at + 250) * ms}
	}
	cases := []struct {
		name   string
		write  func(h *hist) int
		faults []Fault
		lost   bool
	}{
		{"acknowledged in the fault, killed before the drain", func(h *hist) int { return h.put(1, "b@x", 10010, 10020, 200) },
			[]Fault{restart, kill(10700)}, true},
		{"acknowledged in the fault, killed after the drain", func(h *hist) int { return h.put(1, "b@x", 10010, 10020, 200) },
			[]Fault{restart, kill(10800)}, false},
		{"acknowledged after the fault, killed before its own drain", func(h *hist) int { return h.put(1, "b@x", 10490, 10500, 200) },
			[]Fault{restart, kill(11150)}, true},
		{"acknowledged after the fault, killed 1.5 s later", func(h *hist) int { return h.put(1, "b@x", 10490, 10500, 200) },
			[]Fault{restart, kill(12050)}, false},
		{"acknowledged with Redis up", func(h *hist) int { return h.put(1, "b@x", 9000, 9010, 200) },
			[]Fault{restart, kill(9100)}, false},
		{"in flight when the kill began", func(h *hist) int { return h.put(1, "b@x", 20000, 20300, 0) },
			[]Fault{kill(20200)}, true},
		{"sent to the dying process after the kill began", func(h *hist) int { return h.put(1, "b@x", 20201, 20300, 0) },
			[]Fault{kill(20200)}, true},
		{"timed out before the kill", func(h *hist) int { return h.put(1, "b@x", 15000, 20000, 0) },
			[]Fault{kill(20200)}, false},
		{"answered 5xx before the kill", func(h *hist) int { return h.put(1, "b@x", 20000, 20100, 503) },
			[]Fault{kill(20200)}, false},
		{"in flight on another process", func(h *hist) int { return h.put(2, "b@x", 20000, 20300, 0) },
			[]Fault{kill(20200)}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var h hist
			h.reg(0, "a@x", 0, 10, 201)
			w := c.write(&h)
			if got := h.checker(c.faults...).lostWriter(&h.ops[w]); got != c.lost {
				t.Errorf("lostWriter = %v; want %v", got, c.lost)
			}
		})
	}
}

// TestDrainedWriteIsNotExcused is the reviewer's history: instance 1
// writes b@x after a 50 ms Redis restart ended (the write reached Redis)
// and is killed 1.5 s later; instance 2 serves a@x for 30 s and at the end.
// Neither the stale reads nor the unconverged key are excused.
func TestDrainedWriteIsNotExcused(t *testing.T) {
	t.Parallel()
	var h hist
	h.reg(0, "a@x", 0, 10, 201)
	h.put(1, "b@x", 10490, 10500, 200)
	for ts := int64(11000); ts < 40000; ts += 1000 {
		h.get(2, "a@x", ts, ts+1)
	}
	c := h.checker(
		Fault{Kind: RedisRestart, Start: 10000 * ms, End: 10050 * ms},
		Fault{Kind: InstanceKill, Instance: 1, Start: 12050 * ms, End: 12300 * ms},
	)
	stale, vs := c.Stale()
	for _, s := range stale {
		if s.Class == ClassLostWriter {
			t.Fatalf("read %d classed %s; want no lost writer", s.Read, s.Class)
		}
	}
	// The write was acknowledged in the restart's window: 1.8 s bound.
	if len(stale) != 29 || len(vs) != 27 || vs[0].Kind != VStale {
		t.Errorf("got %d stale, %d violations %v; want 29 stale, the 27 beyond 1.8 s %s", len(stale), len(vs), kinds(vs), VStale)
	}
	answers := []Answer{{Instance: 0, Status: 200, Email: "b@x"}, {Instance: 2, Status: 200, Email: "a@x"}}
	if explained, _ := c.NotConverged("k", State{Exists: true, Email: "b@x"}, answers); explained {
		t.Errorf("not converged: got explained; want a violation")
	}
}

// TestStaleClassedByMissedWrite checks that a stale read is classed by the
// acknowledgement of the earliest write it missed, not by its own
// invocation: only a fault around the write's delivery excuses it.
func TestStaleClassedByMissedWrite(t *testing.T) {
	t.Parallel()
	stall := Fault{Kind: RedisStall, Start: 10000 * ms, End: 12000 * ms} // window [9900, 14700] ms
	kill := Fault{Kind: InstanceKill, Instance: 2, Start: 11000 * ms, End: 11300 * ms}
	cases := []struct {
		name      string
		ack, read int64
		class     string
		beyond    bool
		faults    []Fault
	}{
		{"acknowledged 2.5 s before the stall, read in it", 7500, 10010, ClassSteady, true, []Fault{stall}},
		{"acknowledged 2.5 s before the stall, read before it", 7500, 9980, ClassSteady, true, []Fault{stall}},
		{"acknowledged just before the stall", 9950, 11000, string(RedisStall), false, []Fault{stall}},
		{"acknowledged in the stall, read after its window", 12500, 14800, string(RedisStall), false, []Fault{stall}},
		{"acknowledged after the window, read in no window", 14800, 15000, ClassSteady, true, []Fault{stall}},
		{"in two windows: the larger bound", 11100, 13000, string(RedisStall), false, []Fault{stall, kill}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var h hist
			h.reg(0, "a@x", 0, 10, 201)
			h.put(1, "b@x", c.ack-10, c.ack, 200)
			h.get(2, "a@x", c.read, c.read+1)
			stale, vs := h.checker(c.faults...).Stale()
			if len(stale) != 1 || stale[0].Class != c.class || stale[0].Beyond() != c.beyond || (len(vs) > 0) != c.beyond {
				t.Errorf("got %+v, violations %v; want class %s, beyond %v", stale, kinds(vs), c.class, c.beyond)
			}
		})
	}
}

// TestTimedOutWriteIsBounded: an update whose client timed out on a live
// process takes effect, if ever, by the give-up plus the store timeout
// plus the commit grace; reads of its value after a later write are stale.
func TestTimedOutWriteIsBounded(t *testing.T) {
	t.Parallel()
	var h hist
	h.reg(0, "a@x", 0, 10, 201)
	x := h.put(0, "x@x", 1000, 3000, 0) // client timeout; the process lives on
	h.put(0, "b@x", 8000, 8010, 200)    // invoked after 3 s + 2 s + 2 s
	for ts := int64(9000); ts < 20000; ts += 1000 {
		h.get(1, "x@x", ts, ts+1)
	}
	c := h.checker()
	if got, want := c.effective(&h.ops[x]), 7000*ms; got != want {
		t.Errorf("effective = %v; want %v", time.Duration(got), time.Duration(want))
	}
	stale, vs := c.Stale()
	if len(stale) != 11 || len(vs) != 11 || vs[0].Kind != VStale {
		t.Errorf("got %d stale, violations %v; want 11 steady reads beyond bound", len(stale), kinds(vs))
	}
	if r := c.Linearizability(stale, 5*time.Second, 1); r[0].Explanation != "unexplained" {
		t.Errorf("porcupine: got %+v; want unexplained", r[0])
	}
}

// TestBadGETs: a GET answered 200 with another user's data is an impossible
// read; a GET 5xx breaks a promise outside the outage windows too.
func TestBadGETs(t *testing.T) {
	t.Parallel()
	var h hist
	h.reg(0, "a@x", 0, 10, 201)
	wrong := h.op(1, Get, "k", "", 20, 21, StatusWrongAnswer)
	h.ops[wrong].Out = `{"data":{"username":"other","email":"o@x"}}`
	h.op(2, Get, "k", "", 30, 31, 503)     // Redis up
	h.op(2, Get, "k", "", 1010, 1011, 503) // Redis down
	r := analyze(Config{Bounds: testBounds, ProbeInterval: 500 * time.Millisecond, MaxOutageP99: 50 * time.Millisecond, PorcupineTimeout: time.Second},
		&Recording{Ops: h.ops, Faults: []Fault{{Kind: RedisRestart, Start: 1000 * ms, End: 1050 * ms}},
			Final: map[string]State{"k": {Exists: true, Email: "a@x"}}, Answers: map[string][]Answer{"k": {{Status: 200, Email: "a@x"}}}})
	want := map[string]int{VImpossible: 1, VGet5xx: 1, VOutage5xx: 1}
	for k, n := range want {
		if r.ViolationsByKind[k] != n {
			t.Errorf("got violations %v; want %v", r.ViolationsByKind, want)
			break
		}
	}
	if !r.Broken || r.Outage.Errors != 1 {
		t.Errorf("got broken %v, outage errors %d; want broken, 1 (the wrong answer is not an outage error)", r.Broken, r.Outage.Errors)
	}
}

// Cluster faults: a write acknowledged around a master kill, held back or
// not, is classed by its failover bound until the promotion plus that
// bound; the killed node's return has the steady bound; a writer killed
// while a master kill failed its L2 writes is a lost writer.
func TestStaleClassesCluster(t *testing.T) {
	t.Parallel()
	if got := testBounds.ForKind(MasterKill); got != testBounds.Failover || testBounds.ForKind(MasterKillHeld) != got {
		t.Errorf("ForKind(master kills) = %v; want the failover bound %v", got, testBounds.Failover)
	}
	if got := testBounds.ForKind(NodeReturn); got != testBounds.Steady {
		t.Errorf("ForKind(%s) = %v; want the steady bound", NodeReturn, got)
	}
	// A read 2.5 s stale, of a write acknowledged at 1 s.
	build := func() *hist {
		var h hist
		h.reg(0, "a@x", 0, 10, 201)
		h.put(1, "b@x", 990, 1000, 200)
		h.get(2, "a@x", 3500, 3501)
		return &h
	}
	for _, tc := range []struct {
		name  string
		fault Fault
		class string
		vs    []string
	}{
		{"held master kill", Fault{Kind: MasterKillHeld, Start: 800 * ms, End: 4000 * ms}, string(MasterKillHeld), nil},
		{"master kill, acknowledged just before", Fault{Kind: MasterKill, Start: 1050 * ms, End: 4000 * ms}, string(MasterKill), nil},
		{"acknowledged after the promotion's window", Fault{Kind: MasterKill, Start: -5000 * ms, End: -2001 * ms}, ClassSteady, []string{VStale}},
		{"node return", Fault{Kind: NodeReturn, Start: 900 * ms, End: 1100 * ms}, string(NodeReturn), []string{VStale}},
	} {
		stale, vs := build().checker(tc.fault).Stale()
		if len(stale) != 1 || stale[0].Class != tc.class || !slices.Equal(kinds(vs), tc.vs) {
			t.Errorf("%s: got %+v, violations %v; want one %s read, %v", tc.name, stale, kinds(vs), tc.class, tc.vs)
		}
	}
	// Beyond the failover bound, which counts from the promotion: the lost
	// L2 write of finding 4, read 3.5 s after the promotion, is not
	// excused, and the writer's own read is a read-your-writes violation.
	// Read 2 s after the promotion (5 s after the acknowledgement), it is.
	var h hist
	h.reg(0, "a@x", 0, 10, 201)
	h.put(1, "b@x", 990, 1000, 200)
	h.get(2, "a@x", 6000, 6001)
	if stale, vs := h.checker(Fault{Kind: MasterKillHeld, Start: 800 * ms, End: 4000 * ms}).Stale(); len(stale) != 1 || stale[0].Beyond() || len(vs) != 0 {
		t.Errorf("read 2 s after the promotion: got %+v, violations %v; want one read within the bound", stale, kinds(vs))
	}
	h = hist{}
	h.reg(0, "a@x", 0, 10, 201)
	h.put(1, "b@x", 990, 1000, 200)
	h.get(1, "a@x", 7500, 7501)
	stale, vs := h.checker(Fault{Kind: MasterKillHeld, Start: 800 * ms, End: 4000 * ms}).Stale()
	if len(stale) != 1 || !stale[0].Beyond() || !slices.Equal(kinds(vs), []string{VReadYourWrites, VStale}) {
		t.Errorf("lost L2 write: got %+v, violations %v; want one read beyond bound, [%s %s]", stale, kinds(vs), VReadYourWrites, VStale)
	}
	// A writer killed before its queue of L2 writes that the master kill
	// failed could drain: a lost writer.
	h = hist{}
	h.reg(0, "a@x", 0, 10, 201)
	h.put(1, "b@x", 1000, 1010, 200)
	h.get(2, "a@x", 30000, 30001)
	stale, vs = h.checker(Fault{Kind: MasterKill, Start: 900 * ms, End: 3000 * ms},
		Fault{Kind: InstanceKill, Start: 3200 * ms, End: 3500 * ms, Instance: 1}).Stale()
	if len(stale) != 1 || stale[0].Class != ClassLostWriter || len(vs) != 0 {
		t.Errorf("killed writer: got %+v, violations %v; want one lost-writer read, none", stale, kinds(vs))
	}
}

// GETs while a master is killed, until its promotion, measure the
// degraded path; the node's return does not.
func TestOutageCluster(t *testing.T) {
	t.Parallel()
	var h hist
	h.get(0, "", 150, 160)
	h.get(0, "", 5000, 5010)
	c := h.checker(Fault{Kind: MasterKill, Start: 100 * ms, End: 3000 * ms}, Fault{Kind: NodeReturn, Start: 4900 * ms, End: 5100 * ms})
	if o, _ := c.Outage(500*time.Millisecond, 50*time.Millisecond); o.GETs != 1 {
		t.Errorf("got %d GETs in the outage; want 1", o.GETs)
	}
}

func TestSummarizeCluster(t *testing.T) {
	t.Parallel()
	var h hist
	h.reg(0, "a@x", 0, 10, 201)
	c := h.checker()
	c.Kinds = Kinds(ClusterSchedule)
	got := c.Summarize(nil)
	var classes []string
	for _, s := range got {
		classes = append(classes, s.Class)
	}
	want := []string{ClassSteady, "master-kill", "node-return", "kill-9", "master-kill-held", "client-kill", "redis-stall", "flushall", ClassLostWriter}
	if !slices.Equal(classes, want) {
		t.Errorf("got classes %v; want %v", classes, want)
	}
	if got[1].Bound != testBounds.Failover || got[2].Bound != testBounds.Steady {
		t.Errorf("got bounds %v, %v; want failover %v, steady %v", got[1].Bound, got[2].Bound, testBounds.Failover, testBounds.Steady)
	}
}

// A cluster recording is analyzed with the cluster's kinds: the lost L2
// write of a held-back master kill breaks the failover bound and
// read-your-writes, names its user, and the table shows what the promoted
// replica lacked.
func TestAnalyzeCluster(t *testing.T) {
	t.Parallel()
	var h hist
	h.reg(0, "a@x", 0, 10, 201)
	h.put(1, "b@x", 990, 1000, 200)
	h.get(1, "a@x", 7500, 7501)
	rec := &Recording{Redis: RedisCluster, Ops: h.ops,
		Faults: []Fault{{Kind: MasterKillHeld, Start: 800 * ms, End: 4000 * ms, Node: "m", Promoted: "r", Unreplicated: 4321},
			{Kind: NodeReturn, Start: 5000 * ms, End: 5100 * ms, Node: "m"}},
		Final: map[string]State{"k": {Exists: true, Email: "b@x"}}, Answers: map[string][]Answer{"k": {{Status: 200, Email: "a@x"}}}}
	r := analyze(Config{Bounds: testBounds, ProbeInterval: 500 * time.Millisecond, MaxOutageP99: 50 * time.Millisecond, PorcupineTimeout: time.Second}, rec)
	if !slices.Equal(r.Kinds, Kinds(ClusterSchedule)) || r.Redis != RedisCluster {
		t.Errorf("got redis %q, kinds %v; want cluster, %v", r.Redis, r.Kinds, Kinds(ClusterSchedule))
	}
	for _, k := range []string{VStale, VReadYourWrites, VNotConverged} {
		if r.ViolationsByKind[k] != 1 || !slices.Equal(r.ViolationKeys[k], []string{"k"}) {
			t.Errorf("%s: got %d on %v; want 1 on [k]", k, r.ViolationsByKind[k], r.ViolationKeys[k])
		}
	}
	var out bytes.Buffer
	r.Print(&out)
	for _, want := range []string{"redis cluster", "unreplicated", "master-kill-held", "3200.0ms", "4321", "node-return"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

// A proxy run is checked as a service run, with its mode in the report; an
// old recording, without a mode, is a service run.
func TestAnalyzeProxyMode(t *testing.T) {
	t.Parallel()
	var h hist
	h.reg(0, "a@x", 0, 10, 201)
	h.get(1, "a@x", 20, 25)
	cfg := Config{Bounds: testBounds, ProbeInterval: 500 * time.Millisecond, MaxOutageP99: 50 * time.Millisecond, PorcupineTimeout: time.Second}
	final := map[string]State{"k": {Exists: true, Email: "a@x"}}
	answers := map[string][]Answer{"k": {{Status: 200, Email: "a@x"}}}
	r := analyze(cfg, &Recording{Mode: ModeProxy, Ops: h.ops, Final: final, Answers: answers})
	if r.Mode != ModeProxy || r.Redis != RedisSingle || r.Broken || !slices.Equal(r.Kinds, Kinds(Schedule)) {
		t.Errorf("got mode %q, redis %q, broken %v, kinds %v; want proxy, single, kept, %v", r.Mode, r.Redis, r.Broken, r.Kinds, Kinds(Schedule))
	}
	var out bytes.Buffer
	r.Print(&out)
	for _, want := range []string{"mode proxy", "-default-ttl 1h", "-redis off -l1-bytes 0", "every promise kept"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if r := analyze(cfg, &Recording{Ops: h.ops, Final: final, Answers: answers}); r.Mode != ModeService {
		t.Errorf("got mode %q; want service for a recording without one", r.Mode)
	}
}
