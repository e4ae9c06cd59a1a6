// Package loadtest is the Go side of the load-test scenarios: the Go load
// generator (cmd/loadgen) and the k6 scripts (k6/) read the same
// scenarios.json, so that both run the same load from one definition.
//
// A scenario names its users, how keys are picked, the weighted operations
// and the statuses each may answer, an open model (constant arrival rate)
// and a closed model (constant VUs), and the thresholds the run must meet.
// The semantics, which both runners implement identically:
//
//   - Seeded user i (0 <= i < seed) is Users.Prefix + i zero-padded to
//     Users.Digits (u000042), with email <username>@<Users.EmailDomain>.
//   - keys.dist "zipf" picks rank k in [0, n) with P(k) ∝ 1/(k+1)^s;
//     "uniform" picks uniformly in [0, n); "one" always picks 0.
//   - Each request picks an op by weight: get, register (target "new": a
//     never-used name; target "key": the chosen key's name), update, delete.
//     A request is an error when it fails or its status is not in expect.
//
// Everything here is read-only after Load: a File, its Scenarios and a
// Sampler may be shared by any number of goroutines.
package loadtest

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed scenarios.json
var scenariosJSON []byte

// File is scenarios.json.
type File struct {
	Users     Users                `json:"users"`
	Scenarios map[string]*Scenario `json:"scenarios"`
}

// Users says how the scenarios name users.
type Users struct {
	Prefix      string `json:"prefix"`       // seeded user i is Prefix + i zero-padded to Digits
	Digits      int    `json:"digits"`       // 1..18
	EmailDomain string `json:"email_domain"` // every email is <name>@EmailDomain
	NewPrefix   string `json:"new_prefix"`   // names of registrations with target "new"
}

// Scenario is one named load.
type Scenario struct {
	Name        string `json:"-"` // its key in the file
	Description string `json:"description"`
	Seed        int    `json:"seed"` // users 0..Seed-1 are registered before the measured phase
	// WarmPasses is how many times each seeded user is read (GET) after
	// the seeding, one pass after the other, before the measured phase:
	// the first read loads the store and fills L2, the second fills L1.
	WarmPasses int        `json:"warm_passes,omitempty"`
	Keys       Keys       `json:"keys"`
	Ops        []Op       `json:"ops"`
	Open       Open       `json:"open"`
	Closed     Closed     `json:"closed"`
	Thresholds Thresholds `json:"thresholds"`
}

// Keys says how a request picks its user: a rank in [0, N).
type Keys struct {
	Dist string  `json:"dist"` // DistZipf, DistUniform or DistOne
	N    int     `json:"n"`
	S    float64 `json:"s,omitempty"` // the Zipf exponent, > 0
}

// The key distributions.
const (
	DistZipf    = "zipf"
	DistUniform = "uniform"
	DistOne     = "one"
)

// Op is one weighted operation of a scenario.
type Op struct {
	Op     string  `json:"op"`               // OpGet, OpRegister, OpUpdate or OpDelete
	Target string  `json:"target,omitempty"` // register only: TargetNew or TargetKey
	Weight float64 `json:"weight"`           // > 0, relative to the other ops' weights
	Expect []int   `json:"expect"`           // the statuses that are not errors
}

// The operations and the targets of a registration.
const (
	OpGet      = "get"      // GET /user/{key}
	OpRegister = "register" // POST /register
	OpUpdate   = "update"   // PUT /user/{key} {"email":"<key>+<counter>@<domain>"}
	OpDelete   = "delete"   // DELETE /user/{key}

	TargetNew = "new" // a name no request used before
	TargetKey = "key" // the chosen key's name
)

// Expects reports whether status is one that op expects.
func (o *Op) Expects(status int) bool { return slices.Contains(o.Expect, status) }

// Open is the open model: Rate iterations (one request each) per second for
// Duration, started whether or not earlier ones have finished (k6
// constant-arrival-rate). PreAllocatedVUs workers exist from the start; more
// are added up to MaxVUs while none is free; beyond that an iteration is
// dropped.
type Open struct {
	Rate            int      `json:"rate"`
	Duration        Duration `json:"duration"`
	PreAllocatedVUs int      `json:"pre_allocated_vus"`
	MaxVUs          int      `json:"max_vus"`
}

// Closed is the closed model: VUs workers, each sending its next request
// as soon as the last one is answered, for Duration (k6 constant-vus).
type Closed struct {
	VUs      int      `json:"vus"`
	Duration Duration `json:"duration"`
}

// Thresholds are the limits a run must stay within, over all the requests
// of its measured phase.
type Thresholds struct {
	P95Ms        float64 `json:"p95_ms"`
	P99Ms        float64 `json:"p99_ms"`
	MaxErrorRate float64 `json:"max_error_rate"` // errors / requests
}

// Duration is a duration written as k6 and Go both read it: "30s", "1m30s",
// "500ms", "1.5h".
type Duration time.Duration

// durationRE is the form both runners accept.
var durationRE = regexp.MustCompile(`^(\d+(\.\d+)?(ms|s|m|h))+$`)

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"30s\": %w", err)
	}
	if !durationRE.MatchString(s) {
		return fmt.Errorf("invalid duration %q (want e.g. 30s, 1m30s, 500ms)", s)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Load parses and validates the scenarios.json compiled into the package.
func Load() (*File, error) { return Parse(scenariosJSON) }

// Parse parses and validates a scenarios file. Unknown fields are errors:
// a field only one of the two runners understands would make their loads
// differ.
func Parse(data []byte) (*File, error) {
	var f File
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("scenarios.json: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("scenarios.json: trailing data after the object")
	}
	if err := f.validate(); err != nil {
		return nil, fmt.Errorf("scenarios.json: %w", err)
	}
	return &f, nil
}

// Names returns the scenarios' names, sorted.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.Scenarios))
	for name := range f.Scenarios {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Scenario returns a copy of the named scenario, which the caller may
// change (a flag overriding the rate, say).
func (f *File) Scenario(name string) (Scenario, error) {
	sc, ok := f.Scenarios[name]
	if !ok {
		return Scenario{}, fmt.Errorf("no scenario %q (have %s)", name, strings.Join(f.Names(), ", "))
	}
	c := *sc
	c.Ops = slices.Clone(sc.Ops)
	return c, nil
}

func (f *File) validate() error {
	if err := f.Users.validate(); err != nil {
		return fmt.Errorf("users: %w", err)
	}
	if len(f.Scenarios) == 0 {
		return errors.New("no scenarios")
	}
	for _, name := range f.Names() {
		sc := f.Scenarios[name]
		if sc == nil {
			return fmt.Errorf("scenario %q: null", name)
		}
		sc.Name = name
		if err := sc.Validate(f.Users); err != nil {
			return fmt.Errorf("scenario %q: %w", name, err)
		}
	}
	return nil
}

// maxSeedDigits keeps 10^Digits within an int.
const maxSeedDigits = 18

// runTagLen is the length of NewTag's tags: base-36 time and randomness, as
// the k6 scripts make them.
const runTagLen = 12

func (u Users) validate() error {
	if u.Digits < 1 || u.Digits > maxSeedDigits {
		return fmt.Errorf("digits %d: want 1..%d", u.Digits, maxSeedDigits)
	}
	if name := u.Name(0); !ValidName(name) {
		return fmt.Errorf("prefix %q gives the invalid username %q (want 1-64 of A-Z a-z 0-9 . _ -)", u.Prefix, name)
	}
	// The longest new name: new_prefix-<tag>-<uint64>.
	longest := u.NewName(strings.Repeat("x", runTagLen), math.MaxUint64)
	if u.NewPrefix == "" || !ValidName(longest) {
		return fmt.Errorf("new_prefix %q: want a non-empty prefix of A-Z a-z 0-9 . _ - short enough for %q", u.NewPrefix, longest)
	}
	// The domain goes into JSON bodies and URLs unescaped.
	for _, c := range []byte(u.EmailDomain) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return fmt.Errorf("email_domain %q: want a domain of A-Z a-z 0-9 . -", u.EmailDomain)
		}
	}
	for _, e := range []string{u.Email(u.Name(0)), u.Email(longest), u.UpdatedEmail(u.Name(0), math.MaxUint64)} {
		if a, err := mail.ParseAddress(e); err != nil || a.Address != e || len(e) > 254 {
			return fmt.Errorf("email_domain %q gives the invalid email %q", u.EmailDomain, e)
		}
	}
	return nil
}

// Validate checks the scenario against the users it names.
func (sc *Scenario) Validate(u Users) error {
	limit := math.MaxInt
	if u.Digits < maxSeedDigits {
		limit = int(math.Pow10(u.Digits))
	}
	if sc.Seed < 0 || sc.Seed > limit {
		return fmt.Errorf("seed %d: want 0..%d (users.digits)", sc.Seed, limit)
	}
	if sc.WarmPasses < 0 || sc.WarmPasses > 0 && sc.Seed == 0 {
		return fmt.Errorf("warm_passes %d: want 0, or more with seeded users to read", sc.WarmPasses)
	}
	if _, err := NewSampler(sc.Keys); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if sc.Keys.N > limit {
		return fmt.Errorf("keys: n %d: want at most %d (users.digits)", sc.Keys.N, limit)
	}
	if len(sc.Ops) == 0 {
		return errors.New("no ops")
	}
	for i := range sc.Ops {
		if err := sc.validateOp(&sc.Ops[i]); err != nil {
			return fmt.Errorf("ops[%d]: %w", i, err)
		}
	}
	o := sc.Open
	switch {
	case o.Rate <= 0:
		return fmt.Errorf("open: rate %d: want > 0", o.Rate)
	case o.Duration <= 0:
		return errors.New("open: duration: want > 0")
	case o.PreAllocatedVUs <= 0:
		return fmt.Errorf("open: pre_allocated_vus %d: want > 0", o.PreAllocatedVUs)
	case o.MaxVUs < o.PreAllocatedVUs:
		return fmt.Errorf("open: max_vus %d: want >= pre_allocated_vus (%d)", o.MaxVUs, o.PreAllocatedVUs)
	}
	if sc.Closed.VUs <= 0 {
		return fmt.Errorf("closed: vus %d: want > 0", sc.Closed.VUs)
	}
	if sc.Closed.Duration <= 0 {
		return errors.New("closed: duration: want > 0")
	}
	t := sc.Thresholds
	if !(t.P95Ms > 0) || !(t.P99Ms > 0) {
		return fmt.Errorf("thresholds: p95_ms %v, p99_ms %v: want > 0", t.P95Ms, t.P99Ms)
	}
	if !(t.MaxErrorRate >= 0 && t.MaxErrorRate <= 1) {
		return fmt.Errorf("thresholds: max_error_rate %v: want 0..1", t.MaxErrorRate)
	}
	return nil
}

func (sc *Scenario) validateOp(op *Op) error {
	switch op.Op {
	case OpRegister:
		if op.Target != TargetNew && op.Target != TargetKey {
			return fmt.Errorf("register: target %q: want %q or %q", op.Target, TargetNew, TargetKey)
		}
	case OpGet, OpUpdate, OpDelete:
		if op.Target != "" {
			return fmt.Errorf("%s: target %q: only register has a target", op.Op, op.Target)
		}
	default:
		return fmt.Errorf("unknown op %q (want get, register, update or delete)", op.Op)
	}
	if !(op.Weight > 0) || math.IsInf(op.Weight, 1) {
		return fmt.Errorf("%s: weight %v: want > 0", op.Op, op.Weight)
	}
	if len(op.Expect) == 0 {
		return fmt.Errorf("%s: expect: want at least one status", op.Op)
	}
	for _, s := range op.Expect {
		if s < 100 || s > 599 {
			return fmt.Errorf("%s: expect: status %d: want 100..599", op.Op, s)
		}
	}
	// A read, update or delete of a key that seeding never registered
	// answers 404: expecting only success then makes every such request an
	// error, a mistake in the file rather than in the service.
	if op.Op != OpRegister && !op.Expects(404) && sc.Seed < sc.Keys.used() {
		return fmt.Errorf("%s: keys reach rank %d but seed registers only %d users; raise seed or expect 404",
			op.Op, sc.Keys.used()-1, sc.Seed)
	}
	return nil
}

// used is how many ranks the distribution can pick.
func (k Keys) used() int {
	if k.Dist == DistOne {
		return 1
	}
	return k.N
}

// Name is the username of seeded user i: Prefix + i zero-padded to Digits.
func (u Users) Name(i int) string { return string(u.AppendName(nil, i)) }

// AppendName appends Name(i) to dst.
func (u Users) AppendName(dst []byte, i int) []byte {
	dst = append(dst, u.Prefix...)
	var buf [20]byte
	n := strconv.AppendInt(buf[:0], int64(i), 10)
	for pad := u.Digits - len(n); pad > 0; pad-- {
		dst = append(dst, '0')
	}
	return append(dst, n...)
}

// Email is the email of a registration of name: name@EmailDomain.
func (u Users) Email(name string) string { return string(u.AppendEmail(nil, []byte(name))) }

// AppendEmail appends Email(name) to dst.
func (u Users) AppendEmail(dst, name []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, '@')
	return append(dst, u.EmailDomain...)
}

// UpdatedEmail is the email an update of name sets: name+counter@EmailDomain.
func (u Users) UpdatedEmail(name string, counter uint64) string {
	return string(u.AppendUpdatedEmail(nil, []byte(name), counter))
}

// AppendUpdatedEmail appends UpdatedEmail(name, counter) to dst.
func (u Users) AppendUpdatedEmail(dst, name []byte, counter uint64) []byte {
	dst = append(dst, name...)
	dst = append(dst, '+')
	dst = strconv.AppendUint(dst, counter, 10)
	dst = append(dst, '@')
	return append(dst, u.EmailDomain...)
}

// NewName is a name that no earlier request used: NewPrefix-tag-counter,
// where tag differs between runs (NewTag) and counter within one.
func (u Users) NewName(tag string, counter uint64) string {
	return string(u.AppendNewName(nil, tag, counter))
}

// AppendNewName appends NewName(tag, counter) to dst.
func (u Users) AppendNewName(dst []byte, tag string, counter uint64) []byte {
	dst = append(dst, u.NewPrefix...)
	dst = append(dst, '-')
	dst = append(dst, tag...)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, counter, 10)
}

// NewTag returns a run tag for NewName: base-36 time and randomness, 12
// characters of [a-z0-9], as the k6 scripts make theirs.
func NewTag(now time.Time, r *rand.Rand) string {
	t := strconv.FormatInt(now.UnixMilli(), 36)
	if len(t) > runTagLen-4 {
		t = t[len(t)-(runTagLen-4):]
	}
	b := []byte(t)
	for len(b) < runTagLen {
		b = strconv.AppendInt(b, r.Int64N(36), 36)
	}
	return string(b)
}

// ValidName reports whether name is a username SPEC accepts: 1-64 of
// A-Z a-z 0-9 . _ -, and not "." or "..", which no URL path reaches.
func ValidName[T string | []byte](name T) bool {
	if len(name) == 0 || len(name) > 64 || string(name) == "." || string(name) == ".." {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// CheckLoopback returns an error unless host (no port) is on this machine's
// loopback: localhost, 127.0.0.0/8 or ::1. Load only ever targets loopback.
func CheckLoopback(host string) error {
	h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(h, "localhost") {
		return nil
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("host %q is not loopback (want 127.0.0.0/8, ::1 or localhost): load only ever targets this machine", host)
}

// Sampler picks key ranks by a Keys distribution. It is read-only: any
// number of goroutines may share one, each with its own *rand.Rand.
type Sampler struct {
	dist string
	n    int
	cdf  []float64 // zipf: cdf[k] = P(rank <= k); cdf[n-1] == 1
}

// NewSampler validates k and builds its sampler. For a Zipf distribution
// it builds the cumulative table once (n float64s).
func NewSampler(k Keys) (*Sampler, error) {
	if k.N < 1 {
		return nil, fmt.Errorf("n %d: want >= 1", k.N)
	}
	s := &Sampler{dist: k.Dist, n: k.N}
	switch k.Dist {
	case DistZipf:
		if !(k.S > 0) || math.IsInf(k.S, 1) {
			return nil, fmt.Errorf("zipf: s %v: want > 0", k.S)
		}
		s.cdf = make([]float64, k.N)
		sum := 0.0
		for i := range s.cdf {
			sum += math.Pow(float64(i+1), -k.S)
			s.cdf[i] = sum
		}
		for i := range s.cdf {
			s.cdf[i] /= sum
		}
		s.cdf[k.N-1] = 1
	case DistUniform, DistOne:
		if k.S != 0 {
			return nil, fmt.Errorf("%s: s %v: only zipf has an exponent", k.Dist, k.S)
		}
	default:
		return nil, fmt.Errorf("unknown dist %q (want zipf, uniform or one)", k.Dist)
	}
	return s, nil
}

// Next returns a rank in [0, n).
func (s *Sampler) Next(r *rand.Rand) int {
	switch s.dist {
	case DistZipf:
		// The smallest k with u < cdf[k].
		u := r.Float64()
		lo, hi := 0, len(s.cdf)-1
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if u < s.cdf[mid] {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		return lo
	case DistUniform:
		return r.IntN(s.n)
	}
	return 0
}
