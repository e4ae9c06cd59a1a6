package coherence

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Bounds are the staleness bounds that tiercache's configuration promises,
// per class of read. A stale read beyond its class's bound breaks a promise.
type Bounds struct {
	// Steady: invalidation delivery, no fault around.
	Steady time.Duration
	// Stall: Redis stopped (SIGSTOP). Other instances serve their L1 until
	// their connection times out (KeepAlive + ConnWriteTimeout); entries
	// filled from the store meanwhile live DegradedTTL; a write that Redis
	// did not take is republished by the writer's outbox once its breaker
	// probe succeeds after the stall (ProbeInterval + RetryInterval).
	Stall time.Duration
	// ConnLoss: Redis restart, CLIENT KILL, FLUSHALL. The lost connection
	// flushes L1 at once; then DegradedTTL, ProbeInterval and RetryInterval
	// as for a stall, without the stall itself.
	ConnLoss time.Duration
	// Kill: kill -9 of an instance, as seen by the others.
	Kill time.Duration
	// Failover: kill -9 of a cluster master, with or without its
	// replication held back, until its replica serves its slots. A stated
	// aim (issue 10), not derived from the settings: the failover itself
	// takes cluster-node-timeout (2 s) and an election, and the staleness
	// is counted from the acknowledgement like every class's, so it
	// includes them. The killed node's return as a replica (NodeReturn)
	// has the Steady bound: it changes no slot's master.
	Failover time.Duration
	// LostWriter: a write that may never have reached Redis (Checker's
	// lostWriter) leaves other instances serving the old L2 value for the
	// L2 TTL.
	LostWriter time.Duration
	// Drain is not a staleness bound: it is how long after Redis is back
	// (or after the write, if later) every live instance's queue of failed
	// L2 writes has republished a write (breaker probe, then retry). A
	// write is lost with its killed writer only if the kill came first.
	Drain time.Duration
	// StoreTimeout is not a staleness bound either: tiercache's
	// -store-timeout, after which a server gives up on its store call. A
	// write whose client gave up waiting on a live process has taken effect,
	// if ever, by then plus commitGrace.
	StoreTimeout time.Duration
}

// ForKind is the bound of stale reads whose missed write was acknowledged
// in the window of a fault of kind k.
func (b Bounds) ForKind(k FaultKind) time.Duration {
	switch k {
	case RedisStall:
		return b.Stall
	case RedisRestart, ClientKill, FlushAll:
		return b.ConnLoss
	case InstanceKill:
		return b.Kill
	case MasterKill, MasterKillHeld:
		return b.Failover
	}
	return b.Steady
}

// Classes of stale reads, besides the fault kinds.
const (
	ClassSteady     = "steady"
	ClassLostWriter = "lost-writer"
)

// Violation kinds.
const (
	VReadYourWrites = "read-your-writes"
	VStale          = "stale-beyond-bound"
	VImpossible     = "impossible-read"
	VLostWrite      = "lost-write"
	VNotConverged   = "not-converged"
	VOutage5xx      = "outage-5xx"
	VOutageP99      = "outage-p99"
	VGet5xx         = "get-5xx" // outside the outage windows
	VLinearizable   = "not-linearizable-unexplained"
	VUndecided      = "linearizability-undecided"
	VFault          = "fault-failed"
)

// violationKinds lists every kind, in the order the report prints them.
var violationKinds = []string{VReadYourWrites, VStale, VImpossible, VLostWrite, VNotConverged,
	VOutage5xx, VOutageP99, VGet5xx, VLinearizable, VUndecided, VFault}

// Violation is one broken promise with its evidence.
type Violation struct {
	Kind   string `json:"kind"`
	Key    string `json:"key,omitempty"`
	Detail string `json:"detail"`
	Ops    []Op   `json:"ops,omitempty"`
}

// StaleRead is a read that missed at least one acknowledged write.
type StaleRead struct {
	Read      int           `json:"read"`   // op id
	Missed    []int         `json:"missed"` // op ids of the writes it missed
	Staleness time.Duration `json:"staleness_ns"`
	Class     string        `json:"class"`
	Bound     time.Duration `json:"bound_ns"`
}

// Beyond reports whether the read breaks its class's bound.
func (s StaleRead) Beyond() bool { return s.Staleness > s.Bound }

// Checker holds a finished history and the faults injected during it.
type Checker struct {
	Ops    []Op
	Faults []Fault
	Bounds Bounds
	// Kinds are the fault kinds of the run, in the order the report
	// lists them (Kinds of the schedule); nil is Kinds(Schedule).
	Kinds []FaultKind

	idx *index
}

// NewChecker indexes ops (ops[i].ID must be i) for the checks.
func NewChecker(ops []Op, faults []Fault, b Bounds) *Checker {
	order := make([]int, len(ops))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(ops[a].Invoke, ops[b].Invoke) })
	idx := newIndex()
	for _, id := range order {
		idx.add(&ops[id])
	}
	return &Checker{Ops: ops, Faults: faults, Bounds: b, idx: idx}
}

// Keys returns the keys of the history, sorted.
func (c *Checker) Keys() []string {
	keys := make([]string, 0, len(c.idx.byKey))
	for k := range c.idx.byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ids returns the ops of key in order of invocation.
func (c *Checker) ids(key string) []int {
	if k := c.idx.byKey[key]; k != nil {
		return k.all
	}
	return nil
}

// commitGrace is how long after its client stopped waiting a write may
// still take effect in the store: PostgreSQL finishes a COMMIT that it
// received even when the process that sent it dies or gave up on it.
const commitGrace = 2 * time.Second

// effective is the latest time by which write w has taken effect, if it
// ever does: its acknowledgement; for a 5xx, the answer plus commitGrace;
// for a write that got no answer, the earlier of the kill of its process
// plus commitGrace and its client's give-up plus the server's store timeout
// plus commitGrace (the server started its store call before the client
// gave up, and abandons it within StoreTimeout); otherwise Never.
func (c *Checker) effective(w *Op) int64 {
	switch {
	case w.Acked():
		return w.Return
	case !w.Unknown():
		return Never
	case w.Done() && w.Status >= 500:
		return w.Return + int64(commitGrace)
	}
	eff := Never
	if w.Done() {
		eff = w.Return + int64(c.Bounds.StoreTimeout+commitGrace)
	}
	if k, ok := c.kill(w); ok {
		eff = min(eff, k.Start+int64(commitGrace))
	}
	return eff
}

// kill returns the kill -9 that ended the process op was sent to.
func (c *Checker) kill(op *Op) (Fault, bool) {
	for _, f := range c.Faults {
		if f.Kind == InstanceKill && f.Instance == op.Instance && f.Gen == op.Gen {
			return f, true
		}
	}
	return Fault{}, false
}

// index finds the ops of a key, and the write of an email.
type index struct {
	byKey   map[string]*keyOps
	byEmail map[string]int // email → the write that carries it
}

// keyOps are one key's ops, and its deletes, in order of invocation.
type keyOps struct{ all, deletes []int }

func newIndex() *index { return &index{byKey: map[string]*keyOps{}, byEmail: map[string]int{}} }

// add indexes op; ops must be added in order of invocation.
func (x *index) add(op *Op) {
	k := x.byKey[op.Key]
	if k == nil {
		k = &keyOps{}
		x.byKey[op.Key] = k
	}
	k.all = append(k.all, op.ID)
	switch op.Kind {
	case Delete:
		k.deletes = append(k.deletes, op.ID)
	case Register, Update:
		if op.Email != "" {
			x.byEmail[op.Email] = op.ID
		}
	}
}

// missedWrites returns the acknowledged writes that read r missed: writes
// on r's key acknowledged before r was invoked and definitely after (invoked
// after the effect of) the write whose value r returned. For "not found"
// that value is the initial absence (before everything) or any delete that
// may have happened before r returned; r missed W only if W is definitely
// after all of them. eff is the time by which a write has taken effect if
// it ever does (Never when unknown). problem is set when r's value is one
// that no write can explain.
func missedWrites(ops []Op, x *index, eff func(*Op) int64, r *Op) (missed []int, problem string) {
	k := x.byKey[r.Key]
	after := int64(-1) // the initial absence precedes every op
	if r.Found() {
		src, ok := x.byEmail[r.Out]
		switch {
		case !ok:
			return nil, fmt.Sprintf("returned %q, which no client wrote", r.Out)
		case ops[src].Key != r.Key:
			return nil, fmt.Sprintf("returned %q, written to user %q", r.Out, ops[src].Key)
		case !ops[src].MayHaveHappened():
			return nil, fmt.Sprintf("returned %q of op %d, which did not happen (status %d)", r.Out, src, ops[src].Status)
		case ops[src].Invoke > r.Return:
			return nil, fmt.Sprintf("returned %q of op %d, invoked after the read returned", r.Out, src)
		}
		after = eff(&ops[src])
	} else {
		for _, id := range k.deletes {
			d := &ops[id]
			if d.Invoke >= r.Return {
				break
			}
			if d.MayHaveHappened() {
				after = max(after, eff(d))
			}
		}
	}
	if after == Never {
		return nil, ""
	}
	// The writes invoked after `after` and before r, in order of invocation.
	i, _ := slices.BinarySearchFunc(k.all, after, func(id int, t int64) int {
		if ops[id].Invoke > t {
			return 1
		}
		return -1
	})
	for _, id := range k.all[i:] {
		w := &ops[id]
		if w.Invoke >= r.Invoke {
			break
		}
		if w.Acked() && w.Return < r.Invoke {
			missed = append(missed, id)
		}
	}
	return missed, ""
}

// classOf returns the class of a stale read whose earliest missed write
// was acknowledged at t, and its bound: the fault kind with the largest
// bound among the faults whose window holds t, else steady state. A fault's
// window runs from Steady before its start (an invalidation then in flight
// may be cut by the fault) to its end plus its kind's bound.
//
// from is when the bound starts counting: t, except for a write
// acknowledged before a master kill ended, whose bound counts from the
// promotion (the fault's end), as tiercache promises (a lost write is back
// in L2 within the bound of the promotion): the failover itself takes
// longer than the bound, whatever tiercache does.
func (c *Checker) classOf(t int64) (class string, bound time.Duration, from int64) {
	class, bound, from = ClassSteady, c.Bounds.Steady, t
	for _, f := range c.Faults {
		b := c.Bounds.ForKind(f.Kind)
		if t >= f.Start-int64(c.Bounds.Steady) && t <= f.End+int64(b) && b >= bound {
			class, bound, from = string(f.Kind), b, t
			if f.Kind.killsMaster() {
				from = max(t, f.End)
			}
		}
	}
	return class, bound, from
}

// classify measures read r against the writes it missed: its staleness
// from the earliest acknowledgement among them (or from the promotion that
// ended a master kill, see classOf), and that one's class.
func (c *Checker) classify(r *Op, missed []int) (staleness time.Duration, class string, bound time.Duration) {
	first := Never
	for _, id := range missed {
		first = min(first, c.Ops[id].Return)
	}
	class, bound, from := c.classOf(first)
	return time.Duration(r.Invoke - from), class, bound
}

// lostWriter reports whether write w may never have reached Redis, so that
// other instances may serve the value it replaced until the L2 TTL. Only
// two cases qualify, both ending with the kill -9 of w's process:
//   - w was acknowledged while a Redis fault was failing L2 writes (from the
//     fault's start to its end plus Drain), so it may have waited in its
//     process's queue of failed L2 writes, and the kill came before that
//     queue had drained: before max(ack, fault end) + Drain;
//   - w got no answer because the kill interrupted it (sent to the process
//     the kill ended, still in flight when the kill began): it may have
//     committed in the store with the process dying before it published.
func (c *Checker) lostWriter(w *Op) bool {
	k, ok := c.kill(w)
	switch {
	case !ok:
		return false
	case w.Unknown() && w.Status == 0:
		return !w.Done() || w.Return >= k.Start
	case !w.Acked():
		return false
	}
	drain := int64(c.Bounds.Drain)
	for _, f := range c.Faults {
		if f.Kind.breaksRedisWrites() && w.Return >= f.Start && w.Return <= f.End+drain &&
			k.Start < max(w.Return, f.End)+drain {
			return true
		}
	}
	return false
}

// Stale finds the stale reads, classifies them and returns them with the
// violations they make: read-your-writes, beyond their bound, impossible.
func (c *Checker) Stale() (stale []StaleRead, vs []Violation) {
	for i := range c.Ops {
		r := &c.Ops[i]
		if r.Kind == Get && r.Status == StatusWrongAnswer {
			vs = append(vs, Violation{Kind: VImpossible, Key: r.Key,
				Detail: fmt.Sprintf("read %d on instance %d answered 200 with a body that is not user %s", r.ID, r.Instance, r.Key),
				Ops:    []Op{*r}})
			continue
		}
		if !r.Answered() {
			continue
		}
		missed, problem := missedWrites(c.Ops, c.idx, c.effective, r)
		if problem != "" {
			ev := []Op{*r}
			if src, ok := c.idx.byEmail[r.Out]; ok {
				ev = append(ev, c.Ops[src])
			}
			vs = append(vs, Violation{Kind: VImpossible, Key: r.Key, Detail: fmt.Sprintf("read %d %s", r.ID, problem), Ops: ev})
			continue
		}
		if len(missed) == 0 {
			continue
		}
		s := StaleRead{Read: r.ID, Missed: missed}
		s.Staleness, s.Class, s.Bound = c.classify(r, missed)
		if s.Beyond() {
			// A write lost with its killed writer explains the read if it
			// is within bound without those writes.
			var rest []int
			for _, id := range missed {
				if !c.lostWriter(&c.Ops[id]) {
					rest = append(rest, id)
				}
			}
			explained := len(rest) == 0
			if len(rest) > 0 && len(rest) < len(missed) {
				d, _, b := c.classify(r, rest)
				explained = d <= b
			}
			if explained {
				s.Class, s.Bound = ClassLostWriter, c.Bounds.LostWriter
			}
		}
		stale = append(stale, s)
		for _, id := range missed {
			w := &c.Ops[id]
			if w.Instance == r.Instance && w.Gen == r.Gen {
				vs = append(vs, Violation{Kind: VReadYourWrites, Key: r.Key,
					Detail: fmt.Sprintf("read %d on instance %d (gen %d) missed write %d that the same process acknowledged %v earlier",
						r.ID, r.Instance, r.Gen, w.ID, time.Duration(r.Invoke-w.Return)),
					Ops: c.evidence(r, missed)})
				break
			}
		}
		if s.Beyond() {
			vs = append(vs, Violation{Kind: VStale, Key: r.Key,
				Detail: fmt.Sprintf("read %d on instance %d (%s) was %v stale; class %s promises %v",
					r.ID, r.Instance, r.CacheStatus, s.Staleness, s.Class, s.Bound),
				Ops: c.evidence(r, missed)})
		}
	}
	return stale, vs
}

// evidence is the read, the write whose value it returned, and the writes
// it missed.
func (c *Checker) evidence(r *Op, missed []int) []Op {
	ev := []Op{*r}
	if src, ok := c.idx.byEmail[r.Out]; ok && r.Found() {
		ev = append(ev, c.Ops[src])
	}
	for _, id := range missed {
		ev = append(ev, c.Ops[id])
	}
	return ev
}

// State is a user's state: absent, or present with an email.
type State struct {
	Exists bool   `json:"exists"`
	Email  string `json:"email,omitempty"`
}

func (s State) String() string {
	if !s.Exists {
		return "absent"
	}
	return s.Email
}

// LostWrites checks the store's final state of key: it must be the value
// of a write (or of the initial absence, or a delete) that no acknowledged
// write is definitely after.
func (c *Checker) LostWrites(key string, final State) []Violation {
	ids := c.ids(key)
	after := int64(-1) // the initial absence
	var src []Op
	if final.Exists {
		id, ok := c.idx.byEmail[final.Email]
		switch {
		case !ok || c.Ops[id].Key != key:
			return []Violation{{Kind: VLostWrite, Key: key, Detail: fmt.Sprintf("store holds %q, which no client wrote to %s", final.Email, key)}}
		case !c.Ops[id].MayHaveHappened():
			return []Violation{{Kind: VLostWrite, Key: key, Detail: fmt.Sprintf("store holds %q of op %d, which did not happen", final.Email, id), Ops: []Op{c.Ops[id]}}}
		}
		after, src = c.effective(&c.Ops[id]), []Op{c.Ops[id]}
	} else {
		for _, id := range ids {
			if d := &c.Ops[id]; d.Kind == Delete && d.MayHaveHappened() {
				after = max(after, c.effective(d))
			}
		}
	}
	var vs []Violation
	for _, id := range ids {
		w := &c.Ops[id]
		if w.Acked() && w.Invoke > after {
			vs = append(vs, Violation{Kind: VLostWrite, Key: key,
				Detail: fmt.Sprintf("store holds %s, but %s %d (instance %d) was acknowledged after that value took effect",
					final, w.Kind, w.ID, w.Instance),
				Ops: append(append([]Op(nil), src...), *w)})
		}
	}
	return vs
}

// Answer is one instance's answer to a GET in the convergence check.
type Answer struct {
	Instance    int    `json:"instance"`
	Status      int    `json:"status"`
	Email       string `json:"email,omitempty"`
	Err         string `json:"err,omitempty"`
	CacheStatus string `json:"cache_status,omitempty"`
}

// State is the user state the answer shows, ok false for no usable answer.
func (a Answer) State() (State, bool) {
	switch a.Status {
	case 200:
		return State{Exists: true, Email: a.Email}, true
	case 404:
		return State{}, true
	}
	return State{}, false
}

// Converged reports whether every answer shows final.
func Converged(final State, answers []Answer) bool {
	for _, a := range answers {
		if s, ok := a.State(); !ok || s != final {
			return false
		}
	}
	return true
}

// NotConverged explains a key whose instances still disagree with the
// store: explained is true when the store's state is the value of a write
// that may never have reached Redis (lostWriter: its writer was killed
// first; the L2 TTL bound), and no acknowledged write is definitely after
// that write.
func (c *Checker) NotConverged(key string, final State, answers []Answer) (explained bool, v Violation) {
	var ev []Op
	ids := c.ids(key)
	for _, id := range ids {
		w := &c.Ops[id]
		if !w.MayHaveHappened() || !c.lostWriter(w) {
			continue
		}
		if !(final.Exists && w.Email == final.Email) && !(!final.Exists && w.Kind == Delete) {
			continue
		}
		superseded := false
		for _, xid := range ids {
			if x := &c.Ops[xid]; x.Acked() && x.Invoke > c.effective(w) {
				superseded = true
				break
			}
		}
		if !superseded {
			explained = true
			ev = append(ev, *w)
		}
	}
	detail := fmt.Sprintf("store holds %s; instances answer %s", final, describeAnswers(answers))
	if explained {
		detail += "; the store's value was written by a process killed before it could publish it to Redis (bound: L2 TTL)"
	}
	return explained, Violation{Kind: VNotConverged, Key: key, Detail: detail, Ops: ev}
}

func describeAnswers(as []Answer) string {
	s := ""
	for i, a := range as {
		if i > 0 {
			s += ", "
		}
		st, ok := a.State()
		switch {
		case ok:
			s += fmt.Sprintf("%d:%s (%s)", a.Instance, st, a.CacheStatus)
		case a.Err != "":
			s += fmt.Sprintf("%d:error %s", a.Instance, a.Err)
		default:
			s += fmt.Sprintf("%d:status %d", a.Instance, a.Status)
		}
	}
	return s
}

// Outage summarizes the GETs invoked while Redis was down (a restart or a
// stall, until one probe interval after it healed).
type Outage struct {
	GETs   int           `json:"gets"`
	P50    time.Duration `json:"p50_ns"`
	P99    time.Duration `json:"p99_ns"`
	Max    time.Duration `json:"max_ns"`
	Bound  time.Duration `json:"bound_ns"`
	Errors int           `json:"errors"` // 5xx or no answer
}

// Outage measures the GETs during Redis-down windows, extended by probe
// (the breaker's probe interval, until which the instances may still
// be on the degraded path). A GET answered 5xx outside these windows is a
// violation too (VGet5xx): nothing excuses it. A wrong answer
// (StatusWrongAnswer) is Stale's impossible read, not counted here.
func (c *Checker) Outage(probe, bound time.Duration) (Outage, []Violation) {
	o := Outage{Bound: bound}
	var lat []time.Duration
	var errs, steady5xx []Op
	for i := range c.Ops {
		op := &c.Ops[i]
		if op.Kind != Get || op.NotSent || !op.Done() || op.Status == StatusWrongAnswer {
			continue
		}
		in := false
		for _, f := range c.Faults {
			if f.Kind.redisDown() && op.Invoke >= f.Start && op.Invoke <= f.End+int64(probe) {
				in = true
			}
		}
		switch {
		case in:
			lat = append(lat, op.Latency())
			if op.Status == 0 || op.Status >= 500 {
				errs = append(errs, *op)
			}
		case op.Status >= 500:
			steady5xx = append(steady5xx, *op)
		}
	}
	o.GETs, o.Errors = len(lat), len(errs)
	slices.Sort(lat)
	o.P50, o.P99 = Percentile(lat, 50), Percentile(lat, 99)
	if len(lat) > 0 {
		o.Max = lat[len(lat)-1]
	}
	var vs []Violation
	if len(errs) > 0 {
		vs = append(vs, Violation{Kind: VOutage5xx, Detail: fmt.Sprintf("%d GETs failed while Redis was down", len(errs)), Ops: errs[:min(len(errs), 10)]})
	}
	if len(steady5xx) > 0 {
		vs = append(vs, Violation{Kind: VGet5xx, Detail: fmt.Sprintf("%d GETs answered 5xx while Redis was up", len(steady5xx)), Ops: steady5xx[:min(len(steady5xx), 10)]})
	}
	if o.P99 > bound {
		vs = append(vs, Violation{Kind: VOutageP99, Detail: fmt.Sprintf("GET p99 %v while Redis was down; promised %v", o.P99, bound)})
	}
	return o, vs
}

// Percentile of sorted durations by nearest rank; 0 for none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// ClassStats summarizes the stale reads of one class.
type ClassStats struct {
	Class  string        `json:"class"`
	Count  int           `json:"count"`
	Max    time.Duration `json:"max_ns"`
	P99    time.Duration `json:"p99_ns"`
	Bound  time.Duration `json:"bound_ns"`
	Beyond int           `json:"beyond"`
	// Worst is the evidence of the stalest read: the read, the write whose
	// value it returned and the writes it missed.
	Worst []Op `json:"worst,omitempty"`
}

// kinds returns Kinds, or those of the single-Redis Schedule.
func (c *Checker) kinds() []FaultKind {
	if c.Kinds == nil {
		return Kinds(Schedule)
	}
	return c.Kinds
}

// Summarize groups stale reads by class, steady state first, then the
// fault kinds in schedule order, then lost writers; every class appears.
func (c *Checker) Summarize(stale []StaleRead) []ClassStats {
	order := []string{ClassSteady}
	bounds := map[string]time.Duration{ClassSteady: c.Bounds.Steady, ClassLostWriter: c.Bounds.LostWriter}
	for _, k := range c.kinds() {
		order = append(order, string(k))
		bounds[string(k)] = c.Bounds.ForKind(k)
	}
	order = append(order, ClassLostWriter)
	by := map[string][]time.Duration{}
	beyond := map[string]int{}
	worst := map[string]StaleRead{}
	for _, s := range stale {
		if w, ok := worst[s.Class]; !ok || s.Staleness > w.Staleness {
			worst[s.Class] = s
		}
		by[s.Class] = append(by[s.Class], s.Staleness)
		if s.Beyond() {
			beyond[s.Class]++
		}
	}
	out := make([]ClassStats, 0, len(order))
	for _, class := range order {
		d := by[class]
		slices.Sort(d)
		cs := ClassStats{Class: class, Count: len(d), Bound: bounds[class], Beyond: beyond[class], P99: Percentile(d, 99)}
		if len(d) > 0 {
			cs.Max = d[len(d)-1]
			w := worst[class]
			cs.Worst = c.evidence(&c.Ops[w.Read], w.Missed)
		}
		out = append(out, cs)
	}
	return out
}

// sortViolations orders violations by kind, then key.
func sortViolations(vs []Violation) {
	slices.SortStableFunc(vs, func(a, b Violation) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Key, b.Key))
	})
}
