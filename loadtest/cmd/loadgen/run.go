package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/tiercache/tiercache/loadtest"
	"github.com/valyala/fasthttp"
)

// run is the whole run: check the target answers, seed, then the measured
// phase. It returns an error only when the run could not be carried out;
// failed thresholds are in the Summary.
func run(ctx context.Context, cfg config) (Summary, error) {
	g, err := newGenerator(cfg)
	if err != nil {
		return Summary{}, err
	}
	if err := preflight(g.client, cfg); err != nil {
		return Summary{}, err
	}
	if cfg.seed {
		if err := seedUsers(ctx, g.client, cfg); err != nil {
			return Summary{}, err
		}
	}
	if cfg.model == modelOpen {
		g.runOpen(ctx)
	} else {
		g.runClosed(ctx)
	}
	if g.requests() == 0 {
		if ctx.Err() != nil {
			return Summary{}, fmt.Errorf("interrupted before any request was answered: %w", context.Cause(ctx))
		}
		return Summary{}, errors.New("no request completed in the measured phase")
	}
	sum := g.summary()
	g.release()
	return sum, nil
}

// release gives the workers' requests and responses back to fasthttp,
// once they have stopped.
func (g *generator) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, w := range g.workers {
		fasthttp.ReleaseRequest(w.req)
		fasthttp.ReleaseResponse(w.resp)
		w.req, w.resp = nil, nil
	}
}

// seedOnly is -seed-only: the seeding of run without the measured phase.
func seedOnly(ctx context.Context, cfg config) error {
	c := newClient(cfg)
	if err := preflight(c, cfg); err != nil {
		return err
	}
	return seedUsers(ctx, c, cfg)
}

// newClient returns the client of every request of a run: a HostClient with
// one connection per VU it can have, that waits up to cfg.timeout for a
// free connection instead of failing at once (docs/libraries.md, fasthttp client), and whose
// Read/WriteTimeout bound every request: Do, not DoTimeout, which would
// leave a timed-out request running.
func newClient(cfg config) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                   cfg.addr,
		Name:                   "tiercache-loadgen",
		MaxConns:               cfg.conns,
		MaxConnWaitTimeout:     cfg.timeout,
		ReadTimeout:            cfg.timeout,
		WriteTimeout:           cfg.timeout,
		MaxIdleConnDuration:    30 * time.Second,
		DisablePathNormalizing: true, // the paths are valid as built
	}
}

// preflight asks the target for /healthz, so that an unreachable target
// fails with a hint rather than as a run of errors. Any answer will do:
// reaching the server is the point.
func preflight(c *fasthttp.HostClient, cfg config) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(cfg.target + "/healthz")
	if err := c.Do(req, resp); err != nil {
		return fmt.Errorf("cannot reach %s: %w (is the stack up? make stack)", cfg.target, err)
	}
	return nil
}

// Histograms count microseconds, 3 significant digits, up to a minute;
// longer values are recorded as a minute.
const (
	histMax    = int64(time.Minute / time.Microsecond)
	histDigits = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, histMax, histDigits) }

// earlyRelease is how far ahead of its intended start the open model may
// hand out an iteration. Go timers wake about 1 ms late on an idle Linux
// machine; releasing up to this much early keeps most sends on time rather
// than late, and a request sent early counts from its send.
const earlyRelease = time.Millisecond

type opKind uint8

const (
	opGet opKind = iota
	opRegister
	opUpdate
	opDelete
)

// op is an operation of the scenario, ready to pick.
type op struct {
	loadtest.Op
	kind    opKind
	newName bool    // register of a never-used name
	cum     float64 // cumulative weight, for picking
}

// generator is one run's shared state. Everything but the workers list
// and the atomics is read-only once the measured phase starts.
type generator struct {
	cfg    config
	client *fasthttp.HostClient
	keys   *loadtest.Sampler
	ops    []op
	total  float64 // sum of the weights
	tag    string  // of the run's new names
	base   []byte  // http://host:port
	seed   uint64  // of the workers' random streams

	counter atomic.Uint64 // numbers new names and updated emails
	dropped atomic.Int64  // open model: iterations with no free VU
	nextID  atomic.Uint64 // worker ids, for their random streams

	mu      sync.Mutex
	workers []*worker // every worker started; guarded by mu

	start, end time.Time
}

func newGenerator(cfg config) (*generator, error) {
	keys, err := loadtest.NewSampler(cfg.scenario.Keys)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", cfg.scenario.Name, err)
	}
	g := &generator{
		cfg:    cfg,
		client: newClient(cfg),
		keys:   keys,
		tag:    loadtest.NewTag(time.Now(), rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))),
		base:   []byte(cfg.target),
		seed:   rand.Uint64(),
	}
	for _, o := range cfg.scenario.Ops {
		g.total += o.Weight
		p := op{Op: o, cum: g.total}
		switch o.Op {
		case loadtest.OpGet:
			p.kind = opGet
		case loadtest.OpRegister:
			p.kind, p.newName = opRegister, o.Target == loadtest.TargetNew
		case loadtest.OpUpdate:
			p.kind = opUpdate
		case loadtest.OpDelete:
			p.kind = opDelete
		}
		g.ops = append(g.ops, p)
	}
	return g, nil
}

// runOpen is the open model: iteration i is due at start + i/rate, whether
// or not earlier ones have been answered. The dispatcher hands each one to
// an idle worker; with none idle it starts another, up to maxVUs; beyond
// that the iteration is dropped (k6's dropped_iterations). A worker counts
// latency from the iteration's intended start, so time an iteration spent
// waiting to be sent (a late dispatcher, a stalled process) is counted, not
// omitted: the coordinated-omission correction.
func (g *generator) runOpen(ctx context.Context) {
	cfg := g.cfg
	total := int64(math.Round(float64(cfg.rate) * cfg.duration.Seconds()))
	interval := float64(time.Second) / float64(cfg.rate)
	// Unbuffered: a non-blocking send succeeds only when a worker is
	// waiting in its receive, that is idle.
	work := make(chan time.Time)
	var wg, ready sync.WaitGroup
	spawn := func(first time.Time) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := g.newWorker()
			if first.IsZero() {
				ready.Done()
			} else {
				w.do(first)
			}
			for due := range work {
				w.do(due)
			}
		}()
	}
	ready.Add(cfg.vus)
	for range cfg.vus {
		spawn(time.Time{})
	}
	ready.Wait()
	vus := cfg.vus
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	g.start = time.Now()
	stopProgress := g.startProgress()
	defer stopProgress()
dispatch:
	for i := int64(0); i < total; i++ {
		due := g.start.Add(time.Duration(float64(i) * interval))
		if d := time.Until(due) - earlyRelease; d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				break dispatch
			case <-timer.C:
			}
		} else {
			select {
			case <-ctx.Done():
				break dispatch
			default:
			}
		}
		if cfg.dispatchHook != nil {
			cfg.dispatchHook(i)
		}
		select {
		case work <- due:
			continue
		default:
		}
		if vus < cfg.maxVUs {
			vus++
			spawn(due)
			continue
		}
		g.dropped.Add(1)
	}
	close(work)
	wg.Wait()
	g.end = time.Now()
}

// runClosed is the closed model: cfg.vus workers, each sending its next
// request when the last is answered, until the duration ends. Latency counts
// from the send.
func (g *generator) runClosed(ctx context.Context) {
	cfg := g.cfg
	var stop atomic.Bool
	var wg, ready, start sync.WaitGroup
	ready.Add(cfg.vus)
	start.Add(1)
	for range cfg.vus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := g.newWorker()
			ready.Done()
			start.Wait()
			for !stop.Load() {
				w.do(time.Time{})
			}
		}()
	}
	ready.Wait()
	g.start = time.Now()
	stopProgress := g.startProgress()
	defer stopProgress()
	timer := time.AfterFunc(cfg.duration, func() { stop.Store(true) })
	defer timer.Stop()
	defer context.AfterFunc(ctx, func() { stop.Store(true) })()
	start.Done()
	wg.Wait()
	g.end = time.Now()
}

// worker is one VU. Only its goroutine touches it while it runs, except for
// live, which the progress line reads; the rest is read after the run.
type worker struct {
	g    *generator
	rng  *rand.Rand
	req  *fasthttp.Request
	resp *fasthttp.Response
	uri  []byte
	body []byte
	name []byte

	lat *hdrhistogram.Histogram // from the intended start (closed model: the send)
	svc coarse                  // from the send: what a naive measurement sees

	lagSum, lagMax time.Duration // open model: send after the intended start
	lagged         int64         // requests sent after their intended start

	status          [600]int64 // by status; 0 is a failed request
	l1, l2, hit     int64      // GETs answered from a cache tier (hit: no tier named)
	miss            int64      // GETs forwarded to the store
	statusOverflows int64      // statuses beyond the array, counted as errors anyway
	firstErr        string     // the first error, for the report
	live            liveStats
}

// liveStats are what the progress line reads while the run goes on.
type liveStats struct {
	requests atomic.Int64
	errors   atomic.Int64
	coarse   [coarseLen]atomic.Int64 // latency, in coarse buckets
}

func (g *generator) newWorker() *worker {
	id := g.nextID.Add(1)
	w := &worker{
		g:    g,
		rng:  rand.New(rand.NewPCG(g.seed, id)),
		req:  fasthttp.AcquireRequest(),
		resp: fasthttp.AcquireResponse(),
		lat:  newHist(),
	}
	g.mu.Lock()
	g.workers = append(g.workers, w)
	g.mu.Unlock()
	return w
}

var (
	ctJSON        = []byte("application/json")
	pathUser      = []byte("/user/")
	pathRegister  = []byte("/register")
	hdrCacheState = "Cache-Status"
)

// do sends one request of a picked op and records it. intended is when the
// open model meant it to start; zero in the closed model.
func (w *worker) do(intended time.Time) {
	o := w.pick()
	w.prepare(o)
	sent := time.Now()
	err := w.g.client.Do(w.req, w.resp)
	end := time.Now()

	// A request released early (earlyRelease) counts from its send.
	from := sent
	if !intended.IsZero() && intended.Before(sent) {
		from = intended
		lag := sent.Sub(intended)
		w.lagSum += lag
		w.lagMax = max(w.lagMax, lag)
		w.lagged++
	}
	latUs := record(w.lat, end.Sub(from))
	w.svc[coarseIndex(end.Sub(sent).Microseconds())]++

	status := 0
	if err == nil {
		status = w.resp.StatusCode()
	}
	if status >= 0 && status < len(w.status) {
		w.status[status]++
	} else {
		w.statusOverflows++
	}
	w.live.coarse[coarseIndex(latUs)].Add(1)
	w.live.requests.Add(1)
	if err != nil || !o.Expects(status) {
		w.live.errors.Add(1)
		if w.firstErr == "" {
			w.firstErr = w.describe(err)
		}
	}
	if o.kind == opGet && err == nil {
		switch cacheTier(w.resp.Header.Peek(hdrCacheState)) {
		case tierL1:
			w.l1++
		case tierL2:
			w.l2++
		case tierHit:
			w.hit++
		case tierMiss:
			w.miss++
		}
	}
}

// record records d in microseconds, clamped to the histogram's range, and
// returns the value recorded.
func record(h *hdrhistogram.Histogram, d time.Duration) int64 {
	us := min(max(d.Microseconds(), 0), histMax)
	_ = h.RecordValue(us) // in range by construction
	return us
}

func (w *worker) describe(err error) string {
	what := fmt.Sprintf("%s %s", w.req.Header.Method(), w.req.URI().PathOriginal())
	if err != nil {
		return what + ": " + err.Error()
	}
	body := w.resp.Body()
	if len(body) > 200 {
		body = body[:200]
	}
	return fmt.Sprintf("%s: status %d %s", what, w.resp.StatusCode(), bytes.TrimSpace(body))
}

func (w *worker) pick() *op {
	ops := w.g.ops
	if len(ops) == 1 {
		return &ops[0]
	}
	x := w.rng.Float64() * w.g.total
	for i := range ops[:len(ops)-1] {
		if x < ops[i].cum {
			return &ops[i]
		}
	}
	return &ops[len(ops)-1]
}

// prepare fills w.req for o, reusing the worker's buffers: after the first
// requests it allocates nothing.
func (w *worker) prepare(o *op) {
	g := w.g
	users := g.cfg.users
	req := w.req
	req.Reset()
	if o.newName {
		w.name = users.AppendNewName(w.name[:0], g.tag, g.counter.Add(1))
	} else {
		w.name = users.AppendName(w.name[:0], g.keys.Next(w.rng))
	}
	w.uri = append(w.uri[:0], g.base...)
	w.body = w.body[:0]
	switch o.kind {
	case opGet:
		req.Header.SetMethod(fasthttp.MethodGet)
		w.uri = append(append(w.uri, pathUser...), w.name...)
	case opRegister:
		req.Header.SetMethod(fasthttp.MethodPost)
		w.uri = append(w.uri, pathRegister...)
		w.body = append(w.body, `{"username":"`...)
		w.body = append(w.body, w.name...)
		w.body = append(w.body, `","email":"`...)
		w.body = users.AppendEmail(w.body, w.name)
		w.body = append(w.body, `"}`...)
	case opUpdate:
		req.Header.SetMethod(fasthttp.MethodPut)
		w.uri = append(append(w.uri, pathUser...), w.name...)
		w.body = append(w.body, `{"email":"`...)
		w.body = users.AppendUpdatedEmail(w.body, w.name, g.counter.Add(1))
		w.body = append(w.body, `"}`...)
	case opDelete:
		req.Header.SetMethod(fasthttp.MethodDelete)
		w.uri = append(append(w.uri, pathUser...), w.name...)
	}
	req.SetRequestURIBytes(w.uri)
	if len(w.body) > 0 {
		req.Header.SetContentTypeBytes(ctJSON)
		req.SetBody(w.body)
	}
}

type tier uint8

const (
	tierNone tier = iota
	tierL1
	tierL2
	tierHit  // a hit that names no tier
	tierMiss // forwarded: fwd=miss (or any fwd)
)

// cacheTier reads tiercache's entry of an RFC 9211 Cache-Status, as the k6
// scripts do: "tiercache; hit; detail=l1" is tierL1, detail=l2 tierL2,
// "tiercache; fwd=miss; stored" tierMiss. It allocates nothing.
func cacheTier(v []byte) tier {
	for len(v) > 0 {
		var entry []byte
		entry, v, _ = bytes.Cut(v, []byte(","))
		name, params, _ := bytes.Cut(entry, []byte(";"))
		if !bytes.EqualFold(bytes.TrimSpace(name), []byte("tiercache")) {
			continue
		}
		var hit, fwd bool
		var detail []byte
		for len(params) > 0 {
			var p []byte
			p, params, _ = bytes.Cut(params, []byte(";"))
			k, val, _ := bytes.Cut(bytes.TrimSpace(p), []byte("="))
			switch {
			case bytes.EqualFold(k, []byte("hit")):
				hit = true
			case bytes.EqualFold(k, []byte("fwd")):
				fwd = true
			case bytes.EqualFold(k, []byte("detail")):
				detail = bytes.Trim(bytes.TrimSpace(val), `"`)
			}
		}
		switch {
		case hit && bytes.EqualFold(detail, []byte("l1")):
			return tierL1
		case hit && bytes.EqualFold(detail, []byte("l2")):
			return tierL2
		case hit:
			return tierHit
		case fwd:
			return tierMiss
		}
		return tierNone
	}
	return tierNone
}

// Coarse buckets of latency in microseconds, for the progress line, which
// cannot read the workers' HDR histograms while they record, and for the
// latency from the send, which only the report shows: values below 64
// exactly, then 32 buckets per power of two (within about 3%). 7 KiB where
// an HDR histogram of a minute at 3 digits takes 136 KiB.
const coarseLen = 64 + 32*27

type coarse [coarseLen]int64

// quantile returns the upper bound of the bucket holding the q-th
// percentile (0..100), 0 when empty.
func (c *coarse) quantile(q float64) int64 {
	var total int64
	for _, n := range c {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank, seen := max(int64(math.Ceil(q/100*float64(total))), 1), int64(0)
	for i, n := range c {
		if seen += n; seen >= rank {
			return coarseUpper(i)
		}
	}
	return coarseUpper(coarseLen - 1)
}

func coarseIndex(us int64) int {
	if us < 64 {
		return int(max(us, 0))
	}
	shift := bits.Len64(uint64(us)) - 6
	i := 32 + shift*32 + int(us>>shift) - 32
	return min(i, coarseLen-1)
}

// coarseUpper is the largest value of bucket i.
func coarseUpper(i int) int64 {
	if i < 64 {
		return int64(i)
	}
	shift := (i - 32) / 32
	top := int64(32 + (i-32)%32)
	return (top+1)<<shift - 1
}

// requests is how many requests the workers have completed so far.
func (g *generator) requests() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	var n int64
	for _, w := range g.workers {
		n += w.live.requests.Load()
	}
	return n
}

// startProgress prints a line to cfg.progress every second: elapsed time,
// requests in the last second, errors so far, p99 so far (coarse: ~3%).
// The returned func stops it.
func (g *generator) startProgress() (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var last int64
		var counts coarse
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			var reqs, errs int64
			clear(counts[:])
			g.mu.Lock()
			vus := len(g.workers)
			for _, w := range g.workers {
				reqs += w.live.requests.Load()
				errs += w.live.errors.Load()
				for i := range counts {
					counts[i] += w.live.coarse[i].Load()
				}
			}
			g.mu.Unlock()
			p99 := counts.quantile(99)
			line := fmt.Sprintf("[%3.0fs] %6d req/s  errors %d  p99 %s  vus %d",
				time.Since(g.start).Seconds(), reqs-last, errs, fmtMs(float64(p99)/1000), vus)
			if g.cfg.model == modelOpen {
				line += fmt.Sprintf("  dropped %d", g.dropped.Load())
			}
			fmt.Fprintln(g.cfg.progress, line)
			last = reqs
		}
	}()
	return func() { close(done); <-finished }
}

// seedWorkers send the requests of seeding and warming concurrently.
const seedWorkers = 64

// seedUsers registers users 0..seed-1 through POST /register, then reads
// each of them scenario.WarmPasses times, one pass after the other, so that
// the measured phase starts with warm caches. 201 and 409 both mean the
// user is there, so a re-run costs only the requests.
func seedUsers(ctx context.Context, c *fasthttp.HostClient, cfg config) error {
	register := func(req *fasthttp.Request, name, body []byte) []byte {
		req.Header.SetMethod(fasthttp.MethodPost)
		req.Header.SetContentTypeBytes(ctJSON)
		req.SetRequestURI(cfg.target + "/register")
		body = append(body[:0], `{"username":"`...)
		body = append(body, name...)
		body = append(body, `","email":"`...)
		body = cfg.users.AppendEmail(body, name)
		body = append(body, `"}`...)
		req.SetBody(body)
		return body
	}
	if err := overSeeded(ctx, c, cfg, "seed", "registered or already there", register,
		fasthttp.StatusCreated, fasthttp.StatusConflict); err != nil {
		return err
	}
	read := func(req *fasthttp.Request, name, buf []byte) []byte {
		req.Header.SetMethod(fasthttp.MethodGet)
		buf = append(append(buf[:0], cfg.target...), "/user/"...)
		req.SetRequestURIBytes(append(buf, name...))
		return buf
	}
	for pass := range cfg.scenario.WarmPasses {
		what := fmt.Sprintf("warm %d/%d", pass+1, cfg.scenario.WarmPasses)
		if err := overSeeded(ctx, c, cfg, what, "read", read, fasthttp.StatusOK); err != nil {
			return err
		}
	}
	return nil
}

// overSeeded sends one request per seeded user, built by build from the
// user's name into req (with buf to reuse), from seedWorkers goroutines,
// with a progress line a second. A 503 or a failed request is tried again
// a few times; a status outside want stops it with an error.
func overSeeded(ctx context.Context, c *fasthttp.HostClient, cfg config, what, done string,
	build func(req *fasthttp.Request, name, buf []byte) []byte, want ...int) error {
	n := int64(cfg.scenario.Seed)
	if n == 0 {
		return nil
	}
	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next, sent atomic.Int64
	var wg sync.WaitGroup
	for range min(seedWorkers, n) {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			var name, buf []byte
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= n {
					return
				}
				name = cfg.users.AppendName(name[:0], int(i))
				buf = build(req, name, buf)
				if err := seedOne(ctx, c, req, resp, want); err != nil {
					cancel(fmt.Errorf("%s: %s %s, user %s: %w", what, req.Header.Method(), req.URI().Path(), name, err))
					return
				}
				sent.Add(1)
			}
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	start := time.Now()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-finished:
			if parent.Err() != nil {
				return fmt.Errorf("%s: interrupted after %d of %d users: %w", what, sent.Load(), n, context.Cause(parent))
			}
			if err := context.Cause(ctx); err != nil {
				return err
			}
			fmt.Fprintf(cfg.progress, "%s: %d users %s, in %.1fs\n", what, n, done, time.Since(start).Seconds())
			return nil
		case <-t.C:
			d := sent.Load()
			fmt.Fprintf(cfg.progress, "%s: %d/%d users (%.0f/s)\n", what, d, n, float64(d)/time.Since(start).Seconds())
		}
	}
}

func seedOne(ctx context.Context, c *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response, want []int) error {
	const attempts = 5
	var err error
	for a := range attempts {
		if a > 0 {
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-time.After(time.Duration(a) * 200 * time.Millisecond):
			}
		}
		if err = c.Do(req, resp); err != nil {
			continue
		}
		switch status := resp.StatusCode(); {
		case slices.Contains(want, status):
			return nil
		case status == fasthttp.StatusServiceUnavailable:
			err = fmt.Errorf("got 503 %s", bytes.TrimSpace(resp.Body()))
			continue
		}
		return fmt.Errorf("got %d %s; want %v", resp.StatusCode(), bytes.TrimSpace(resp.Body()), want)
	}
	return fmt.Errorf("%w (after %d attempts)", err, attempts)
}
