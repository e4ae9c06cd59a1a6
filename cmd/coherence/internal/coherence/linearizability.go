package coherence

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// The sequential specification of one user, for porcupine.

type userState struct {
	exists bool
	email  string
}

type userInput struct {
	kind  Kind
	email string // register, update
}

type userOutput struct {
	status  int    // 201, 409, 200, 404
	email   string // get 200
	unknown bool   // a write without an outcome: it may or may not have happened
}

// userModel is a user that can be registered (201, or 409 when it
// exists), updated and deleted (200, or 404 when it does not exist) and
// read (200 with its email, or 404). A write of unknown outcome is legal
// in any state and applies; porcupine gives it an open return time, so it
// can also be placed after everything, which is "it did not happen".
var userModel = porcupine.Model{
	Init: func() any { return userState{} },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(userState), input.(userInput), output.(userOutput)
		switch in.kind {
		case Get:
			if out.status == 200 {
				return s.exists && s.email == out.email, s
			}
			return !s.exists, s
		case Register:
			if out.unknown {
				if s.exists {
					return true, s
				}
				return true, userState{exists: true, email: in.email}
			}
			if out.status == 201 {
				return !s.exists, userState{exists: true, email: in.email}
			}
			return s.exists, s // 409
		case Update:
			if out.unknown {
				if s.exists {
					return true, userState{exists: true, email: in.email}
				}
				return true, s
			}
			if out.status == 200 {
				return s.exists, userState{exists: true, email: in.email}
			}
			return !s.exists, s // 404
		case Delete:
			if out.unknown {
				return true, userState{}
			}
			if out.status == 200 {
				return s.exists, userState{}
			}
			return !s.exists, s // 404
		}
		return false, s
	},
	Hash: func(state any) uint64 {
		s := state.(userState)
		h := fnv.New64a()
		if s.exists {
			h.Write([]byte{1})
		}
		h.Write([]byte(s.email))
		return h.Sum64()
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(userInput), output.(userOutput)
		res := fmt.Sprint(out.status)
		if out.unknown {
			res = "?"
		} else if out.email != "" {
			res += " " + out.email
		}
		if in.email != "" {
			return fmt.Sprintf("%s(%s) → %s", in.kind, in.email, res)
		}
		return fmt.Sprintf("%s → %s", in.kind, res)
	},
	DescribeState: func(state any) string {
		s := state.(userState)
		if !s.exists {
			return "absent"
		}
		return s.email
	},
}

// operations turns the ops of one key into porcupine operations. Reads
// without an answer say nothing and are left out, as are writes that were
// never sent or were refused for their body. shift moves a read's
// invocation earlier: a read allowed to be d stale may take effect up to d
// before it was invoked.
//
// A write of unknown outcome gets its latest possible effect (eff) as its
// return, which is "never" unless the checker knows better.
func operations(ops []Op, ids []int, eff func(*Op) int64, shift func(r *Op) time.Duration) []porcupine.Operation {
	var out []porcupine.Operation
	for _, id := range ids {
		op := &ops[id]
		p := porcupine.Operation{ClientId: op.Client, Call: op.Invoke, Return: op.Return}
		switch {
		case op.Kind == Get:
			if !op.Answered() {
				continue
			}
			p.Input = userInput{kind: Get}
			p.Output = userOutput{status: op.Status, email: op.Out}
			if shift != nil {
				p.Call -= int64(shift(op))
			}
		case op.Unknown():
			p.Input = userInput{kind: op.Kind, email: op.Email}
			p.Output = userOutput{unknown: true}
			p.Return = eff(op)
		case op.Acked() || op.Status == 404 || (op.Kind == Register && op.Status == 409):
			p.Input = userInput{kind: op.Kind, email: op.Email}
			p.Output = userOutput{status: op.Status}
		default:
			continue
		}
		out = append(out, p)
	}
	return reduceReads(out)
}

// reduceReads drops the ops that change nothing and whose constraint
// others imply. Porcupine's search does not know that such ops commute,
// and may try every subset of them.
//
// An email is written once, so it is current during one stretch of any
// linearization, and a read of it fits if its interval meets that stretch.
// The stretch meets every read's interval if and only if it begins no later
// than the earliest return and ends after the latest invocation among them:
// the read that returns first and the read invoked last imply the others.
//
// "Absent" (a GET, PUT or DELETE answering 404) and "exists" (a 409
// registration) can hold during several stretches; there an op whose
// interval contains the interval of another op that asserts as much is
// implied by it. A read of an email asserts "exists".
func reduceReads(ops []porcupine.Operation) []porcupine.Operation {
	type extremes struct{ firstReturn, lastCall int }
	byEmail := map[string]*extremes{}
	var absent, exists, found []int
	keep := make([]bool, len(ops))
	for i, p := range ops {
		in, out := p.Input.(userInput), p.Output.(userOutput)
		switch {
		case out.unknown:
			keep[i] = true
		case in.kind == Get && out.status == 200:
			found = append(found, i)
			e := byEmail[out.email]
			if e == nil {
				byEmail[out.email] = &extremes{i, i}
				continue
			}
			if p.Return < ops[e.firstReturn].Return {
				e.firstReturn = i
			}
			if p.Call > ops[e.lastCall].Call {
				e.lastCall = i
			}
		case out.status == 404:
			absent = append(absent, i)
		case in.kind == Register && out.status == 409:
			exists = append(exists, i)
		default:
			keep[i] = true
		}
	}
	for _, e := range byEmail {
		keep[e.firstReturn], keep[e.lastCall] = true, true
	}
	keepInnermost(ops, absent, nil, keep)
	keepInnermost(ops, exists, found, keep)
	out := ops[:0]
	for i, p := range ops {
		if keep[i] {
			out = append(out, p)
		}
	}
	return out
}

// keepInnermost marks as kept each op of ids whose interval contains no
// other interval of ids or implying.
func keepInnermost(ops []porcupine.Operation, ids, implying []int, keep []bool) {
	all := append(append([]int(nil), ids...), implying...)
	decide := make(map[int]bool, len(ids))
	for _, i := range ids {
		decide[i] = true
	}
	// Latest invocation first, and for equal invocations the earliest
	// return first: an op is implied when one seen before it returns no
	// later.
	slices.SortFunc(all, func(a, b int) int {
		return cmp.Or(cmp.Compare(ops[b].Call, ops[a].Call), cmp.Compare(ops[a].Return, ops[b].Return))
	})
	minReturn := Never
	for _, i := range all {
		if decide[i] && ops[i].Return < minReturn {
			keep[i] = true
		}
		minReturn = min(minReturn, ops[i].Return)
	}
}

// KeyResult is porcupine's verdict on one key.
type KeyResult struct {
	Key     string `json:"key"`
	Ops     int    `json:"ops"`     // in the history
	Checked int    `json:"checked"` // given to porcupine: the answered ones, less the implied reads
	// Result is "ok", "illegal" or "unknown" (porcupine timed out).
	Result string `json:"result"`
	// Explanation, when Result is not "ok": "explained" when the history
	// is linearizable once every read may be as stale as the bounds allow,
	// "unexplained" when it is not (a bug), "undecided" when porcupine
	// timed out (a broken promise too: nothing was proven).
	Explanation string `json:"explanation,omitempty"`
	// Elapsed is the time porcupine took on the key, all checks together.
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Linearizability checks each key's history with porcupine, at most
// parallel keys at a time, each check bounded by timeout.
//
// A key that is not linearizable is checked again with each read's
// invocation moved earlier by as much staleness as the bounds allow it: its
// allowance, and for a stale read at least its staleness, up to its class's
// bound (a lost writer's read: the L2 TTL). If that history is
// linearizable, stale reads within the documented bounds explain the key.
// A check that porcupine cannot finish in time is "undecided", which breaks
// a promise as "unexplained" does: nothing was proven.
func (c *Checker) Linearizability(stale []StaleRead, timeout time.Duration, parallel int) []KeyResult {
	byRead := map[int]StaleRead{}
	for _, s := range stale {
		byRead[s.Read] = s
	}
	keys := c.Keys()
	results := make([]KeyResult, len(keys))
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			start := time.Now()
			plain := operations(c.Ops, c.ids(key), c.effective, nil)
			r := KeyResult{Key: key, Ops: len(c.ids(key)), Checked: len(plain),
				Result: verdict(porcupine.CheckOperationsTimeout(userModel, plain, timeout))}
			if r.Result != "ok" {
				allow := c.allowance(key)
				shift := func(r *Op) time.Duration {
					d := allow(r)
					if s, ok := byRead[r.ID]; ok {
						d = max(d, min(s.Staleness, s.Bound))
					}
					return d
				}
				switch porcupine.CheckOperationsTimeout(userModel, operations(c.Ops, c.ids(key), c.effective, shift), timeout) {
				case porcupine.Ok:
					r.Explanation = "explained"
				case porcupine.Illegal:
					r.Explanation = "unexplained"
				default:
					r.Explanation = "undecided"
				}
			}
			r.Elapsed = time.Since(start)
			results[i] = r
		})
	}
	wg.Wait()
	return results
}

// allowance returns, for the reads of key, how far the bounds let a read's
// invocation move earlier: to just after the acknowledgement, at t, of the
// latest write of key that the read may not miss (the read was invoked
// more than the bound of t's class after t), and at most the largest bound
// of a fault kind. Writes without an acknowledgement constrain nothing: a
// read may also have missed a write still in flight that another read
// already returned.
func (c *Checker) allowance(key string) func(r *Op) time.Duration {
	type ack struct {
		t     int64
		bound time.Duration
	}
	var acks []ack
	for _, id := range c.ids(key) {
		if w := &c.Ops[id]; w.Acked() {
			// A bound that counts from a promotion after the ack
			// (classOf) allows that much more from the ack.
			_, b, from := c.classOf(w.Return)
			acks = append(acks, ack{w.Return, b + time.Duration(from-w.Return)})
		}
	}
	slices.SortFunc(acks, func(a, b ack) int { return cmp.Compare(a.t, b.t) })
	limit := c.Bounds.Steady
	for _, k := range c.kinds() {
		limit = max(limit, c.Bounds.ForKind(k))
	}
	for _, a := range acks { // a bound that counts from a promotion reaches further back
		limit = max(limit, a.bound)
	}
	return func(r *Op) time.Duration {
		i, _ := slices.BinarySearchFunc(acks, r.Invoke, func(a ack, t int64) int { return cmp.Compare(a.t, t) })
		for i--; i >= 0 && r.Invoke-acks[i].t <= int64(limit); i-- {
			if d := time.Duration(r.Invoke - acks[i].t); d > acks[i].bound {
				return d - 1
			}
		}
		return limit
	}
}

func verdict(r porcupine.CheckResult) string {
	switch r {
	case porcupine.Ok:
		return "ok"
	case porcupine.Illegal:
		return "illegal"
	}
	return "unknown"
}
