package coherence

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Kind is what an operation does.
type Kind uint8

// The four operations of the user API.
const (
	Get      Kind = iota + 1 // GET /user/{name}
	Register                 // POST /register
	Update                   // PUT /user/{name} {"email"}
	Delete                   // DELETE /user/{name}
)

var kindNames = [...]string{Get: "get", Register: "register", Update: "update", Delete: "delete"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "unknown"
}

// MarshalText writes the kind's name, for the JSON report.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind's name.
func (k *Kind) UnmarshalText(b []byte) error {
	for i, name := range kindNames {
		if name != "" && name == string(b) {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("unknown operation kind %q", b)
}

// StatusWrongAnswer is the status recorded for a GET answered 200 with a
// body that is not the user asked for (another user's, or without an
// email): an impossible read.
const StatusWrongAnswer = 599

// Never is the return time of an operation whose outcome is unknown when
// it is used to order writes: nothing is definitely after it.
const Never = int64(math.MaxInt64)

// Op is one HTTP operation as a client saw it. Times are nanoseconds of the
// checker's monotonic clock since the run began.
type Op struct {
	ID       int    `json:"id"`
	Client   int    `json:"client"`
	Instance int    `json:"instance"` // slot 0..n-1: the port the client talks to
	Gen      int    `json:"gen"`      // process generation of that slot; a kill -9 and restart makes a new one
	Kind     Kind   `json:"kind"`
	Key      string `json:"key"`
	Email    string `json:"email,omitempty"` // input of a register or update
	Invoke   int64  `json:"invoke"`
	Return   int64  `json:"return"` // -1 while in flight
	Status   int    `json:"status"` // 0: no HTTP answer
	Err      string `json:"err,omitempty"`
	// NotSent marks a request whose connection was refused: it never
	// reached a server, so it did nothing.
	NotSent     bool   `json:"not_sent,omitempty"`
	Out         string `json:"out,omitempty"` // email in a 200 answer of a GET; the body's start for StatusWrongAnswer
	CacheStatus string `json:"cache_status,omitempty"`
}

// IsWrite reports whether op is a register, update or delete.
func (op *Op) IsWrite() bool { return op.Kind == Register || op.Kind == Update || op.Kind == Delete }

// Done reports whether op has returned.
func (op *Op) Done() bool { return op.Return >= 0 }

// Acked reports whether op is a write that the service acknowledged: it
// happened.
func (op *Op) Acked() bool { return op.IsWrite() && op.Done() && op.Status >= 200 && op.Status < 300 }

// Unknown reports whether op is a write that may or may not have happened:
// in flight, no answer (transport error, timeout) or a 5xx.
func (op *Op) Unknown() bool {
	if !op.IsWrite() || op.NotSent {
		return false
	}
	return !op.Done() || op.Status == 0 || op.Status >= 500
}

// MayHaveHappened reports whether op is a write whose effect may be in the
// store: acknowledged or unknown. A 409 registration or a 404 update or
// delete is not a write.
func (op *Op) MayHaveHappened() bool { return op.Acked() || op.Unknown() }

// Answered reports whether op is a read that returned a value: 200 with an
// email or 404 "not found".
func (op *Op) Answered() bool {
	return op.Kind == Get && op.Done() && (op.Status == 200 || op.Status == 404)
}

// Found reports whether an answered read found the user.
func (op *Op) Found() bool { return op.Status == 200 }

// AckTime is the acknowledgement of a write, or Never when it was not
// acknowledged: the time by which it has taken effect as far as the op
// alone tells. The Checker bounds unknown outcomes too (effective).
func (op *Op) AckTime() int64 {
	if op.Acked() {
		return op.Return
	}
	return Never
}

// Latency of a returned op.
func (op *Op) Latency() time.Duration { return time.Duration(op.Return - op.Invoke) }

// Clock is the checker's monotonic clock.
type Clock struct{ start time.Time }

// NewClock starts a clock at zero.
func NewClock() *Clock { return &Clock{start: time.Now()} }

// Start is the wall-clock time of zero, to match the processes' logs.
func (c *Clock) Start() time.Time { return c.start }

// Now is the time since the clock started, in nanoseconds (monotonic).
func (c *Clock) Now() int64 { return int64(time.Since(c.start)) }

// History records operations as they are invoked and return. It is safe
// for concurrent use. Every op is recorded before its request is sent, so
// that a read's check can see the writes still in flight. As each read
// returns, History checks it against the ops so far and counts it when it
// is stale: the progress line's figure (the final checks redo it).
type History struct {
	clock *Clock
	mu    sync.Mutex
	ops   []Op
	idx   *index
	stale int
}

// NewHistory returns an empty history on clock.
func NewHistory(clock *Clock) *History { return &History{clock: clock, idx: newIndex()} }

// Begin records op as invoked now and returns its id. Ops are numbered in
// order of invocation.
func (h *History) Begin(op Op) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	op.ID = len(h.ops)
	op.Invoke, op.Return = h.clock.Now(), -1
	h.ops = append(h.ops, op)
	h.idx.add(&h.ops[op.ID])
	return op.ID
}

// End records the outcome of op id: fill sets its result fields.
func (h *History) End(id int, fill func(op *Op)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	op := &h.ops[id]
	fill(op)
	if op.Answered() {
		if missed, _ := missedWrites(h.ops, h.idx, (*Op).AckTime, op); len(missed) > 0 {
			h.stale++
		}
	}
}

// Counts returns the number of ops begun and of stale reads so far.
func (h *History) Counts() (ops, stale int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ops), h.stale
}

// Ops returns a copy of every op, in order of invocation.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.ops...)
}
