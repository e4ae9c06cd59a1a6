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
	// is linearizable once every read may be as stale as its class's bound
	// allows, "unexplained" when it is not (a bug), "undecided" when
	// porcupine timed out.
	Explanation string `json:"explanation,omitempty"`
	// Elapsed is the time porcupine took on the key, all checks together.
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Linearizability checks each key's history with porcupine, at most
// parallel keys at a time, each check bounded by timeout.
//
// A key that is not linearizable is checked again with reads allowed to be
// stale, each read's invocation moved earlier: if that history is
// linearizable, stale reads within the documented bounds explain it. The
// first try moves each stale read by its measured staleness and every other
// read by the steady-state bound (a read can also be stale against a write
// not yet acknowledged that another read already returned), never beyond
// its class's bound; it is cheap because the reads' intervals stay short.
// If that fails, the second moves every read by its class's full bound (a
// lost writer's read by its staleness), which porcupine may take long to
// search: it then reports "undecided".
func (c *Checker) Linearizability(stale []StaleRead, timeout time.Duration, parallel int) []KeyResult {
	measured, lost := map[int]time.Duration{}, map[int]time.Duration{}
	for _, s := range stale {
		measured[s.Read] = s.Staleness + time.Millisecond
		if s.Class == ClassLostWriter {
			lost[s.Read] = measured[s.Read]
		}
	}
	tight := func(r *Op) time.Duration {
		if d, ok := lost[r.ID]; ok {
			return d
		}
		_, b := c.classOf(r.Invoke)
		return min(max(measured[r.ID], c.Bounds.Steady), b)
	}
	full := func(r *Op) time.Duration {
		if d, ok := lost[r.ID]; ok {
			return d
		}
		_, b := c.classOf(r.Invoke)
		return b
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
			check := func(shift func(*Op) time.Duration) porcupine.CheckResult {
				return porcupine.CheckOperationsTimeout(userModel, operations(c.Ops, c.ids(key), c.effective, shift), timeout)
			}
			plain := operations(c.Ops, c.ids(key), c.effective, nil)
			r := KeyResult{Key: key, Ops: len(c.ids(key)), Checked: len(plain),
				Result: verdict(porcupine.CheckOperationsTimeout(userModel, plain, timeout))}
			if r.Result != "ok" {
				res := check(tight)
				if res != porcupine.Ok {
					res = check(full)
				}
				switch res {
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

func verdict(r porcupine.CheckResult) string {
	switch r {
	case porcupine.Ok:
		return "ok"
	case porcupine.Illegal:
		return "illegal"
	}
	return "unknown"
}
