package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/tiercache/tiercache/loadtest"
)

// Summary is the result of a run: loadtest.Result, which -json writes,
// and what only the printed report shows.
type Summary struct {
	loadtest.Result

	interrupted bool     // a signal cut the run short: no result, only what was measured
	untiered    int64    // GETs answered by a hit that names no tier; in HitRatio, with no key of their own
	service     Latency  // from the send, whatever the model; within 3%
	lagMean     float64  // open model: ms a late send was late, on average
	lagMax      float64  // and at most
	lagged      int64    // sends after their intended start
	maxVUs      int      // open model: the cap on VUs
	conns       int      // the client's connection limit
	errorEgs    []string // the first error of each worker that had one, deduplicated
	hist        *hdrhistogram.Histogram
}

// The parts of a Result, by their short names.
type (
	Latency   = loadtest.Latency
	Threshold = loadtest.Threshold
)

// summary merges the workers' histograms and counters. It runs after the
// workers have stopped.
func (g *generator) summary() Summary {
	cfg := g.cfg
	s := Summary{
		Result: loadtest.Result{
			Scenario: cfg.scenario.Name,
			Model:    cfg.model,
			Label:    cfg.label,
			Target:   cfg.target,
			Started:  g.start.UTC().Format(time.RFC3339),
			Status:   map[string]int64{},
			Cache:    &loadtest.Cache{},
			Go:       runtime.Version(),
			CPU:      cpuModel(),
			Cores:    cores(),
		},
		maxVUs: cfg.maxVUs,
		conns:  cfg.conns,
		hist:   newHist(),
	}
	if cfg.model == modelOpen {
		s.Rate = cfg.rate
		s.Dropped = g.dropped.Load()
	}
	var svc coarse
	var lagSum time.Duration
	var lagMax time.Duration
	var hits int64
	g.mu.Lock()
	workers := slices.Clone(g.workers)
	g.mu.Unlock()
	s.VUs = len(workers)
	for _, w := range workers {
		s.hist.Merge(w.lat)
		for i, n := range w.svc {
			svc[i] += n
		}
		for code, n := range w.status {
			if n > 0 {
				s.Status[strconv.Itoa(code)] += n
			}
		}
		s.Requests += w.live.requests.Load()
		s.Errors += w.live.errors.Load()
		s.Cache.L1 += w.l1
		s.Cache.L2 += w.l2
		s.Cache.Miss += w.miss
		s.untiered += w.hit
		hits += w.l1 + w.l2 + w.hit
		lagSum += w.lagSum
		lagMax = max(lagMax, w.lagMax)
		s.lagged += w.lagged
		if w.firstErr != "" && !slices.Contains(s.errorEgs, w.firstErr) {
			s.errorEgs = append(s.errorEgs, w.firstErr)
		}
		if w.statusOverflows > 0 {
			s.Status["other"] += w.statusOverflows
		}
	}
	if s.lagged > 0 {
		s.lagMean = ms(float64(lagSum.Microseconds()) / float64(s.lagged))
	}
	s.lagMax = ms(float64(lagMax.Microseconds()))
	elapsed := g.end.Sub(g.start)
	s.DurationS = round(elapsed.Seconds(), 3)
	if elapsed > 0 {
		s.RPS = round(float64(s.Requests)/elapsed.Seconds(), 1)
	}
	if s.Requests > 0 {
		s.ErrorRate = round(float64(s.Errors)/float64(s.Requests), 6)
	}
	if hits+s.Cache.Miss > 0 {
		s.Cache.HitRatio = round(float64(hits)/float64(hits+s.Cache.Miss), 4)
	}
	s.LatencyMs = latency(s.hist)
	q := func(p float64) float64 { return ms(float64(svc.quantile(p))) }
	s.service = Latency{P50: q(50), P90: q(90), P95: q(95), P99: q(99), P999: q(99.9), Max: q(100)}

	t := cfg.scenario.Thresholds
	s.Thresholds = []Threshold{
		{Name: "p95_ms", Limit: t.P95Ms, Value: s.LatencyMs.P95},
		{Name: "p99_ms", Limit: t.P99Ms, Value: s.LatencyMs.P99},
		{Name: "max_error_rate", Limit: t.MaxErrorRate, Value: s.ErrorRate},
	}
	if cfg.model == modelOpen {
		// An iteration dropped for want of a free VU is a request the
		// server never got because it was too slow to free one: it counts
		// against the error budget, or a stalled server that leaves most
		// arrivals unsent would pass on the latencies of the few it took.
		var rate float64
		if n := s.Requests + s.Dropped; n > 0 {
			rate = round(float64(s.Dropped)/float64(n), 6)
		}
		s.Thresholds = append(s.Thresholds, Threshold{Name: "dropped_rate", Limit: t.MaxErrorRate, Value: rate})
	}
	s.Passed = true
	for i := range s.Thresholds {
		th := &s.Thresholds[i]
		th.OK = th.Value <= th.Limit
		s.Passed = s.Passed && th.OK
	}
	return s
}

func latency(h *hdrhistogram.Histogram) Latency {
	q := func(p float64) float64 { return ms(float64(h.ValueAtQuantile(p))) }
	return Latency{P50: q(50), P90: q(90), P95: q(95), P99: q(99), P999: q(99.9), Max: ms(float64(h.Max()))}
}

// ms converts microseconds to milliseconds.
func ms(us float64) float64 { return round(us/1000, 3) }

func round(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}

// fmtMs formats milliseconds for the report.
func fmtMs(v float64) string {
	switch {
	case v < 10:
		return strconv.FormatFloat(v, 'f', 3, 64) + " ms"
	case v < 1000:
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
}

// print writes the report, a table a person reads, naming the JSON
// summary's path if there is one.
func (s *Summary) print(out io.Writer, jsonPath string) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	p("scenario\t%s, %s model, label %q, against %s", s.Scenario, s.Model, s.Label, s.Target)
	p("started\t%s, %.1f s, Go %s, %s, %d cores", s.Started, s.DurationS, strings.TrimPrefix(s.Go, "go"), s.CPU, s.Cores)
	if s.Model == modelOpen {
		p("load\tarrival rate %d/s, %d VUs (at most %d), %d connections at most", s.Rate, s.VUs, s.maxVUs, s.conns)
	} else {
		p("load\t%d VUs back to back, %d connections at most", s.VUs, s.conns)
	}
	p("requests\t%d, %.1f req/s, %d dropped", s.Requests, s.RPS, s.Dropped)
	lat := func(l Latency) string {
		return fmt.Sprintf("p50 %s  p90 %s  p95 %s  p99 %s  p99.9 %s  max %s",
			fmtMs(l.P50), fmtMs(l.P90), fmtMs(l.P95), fmtMs(l.P99), fmtMs(l.P999), fmtMs(l.Max))
	}
	if s.Model == modelOpen {
		p("latency\t%s  (from the intended start)", lat(s.LatencyMs))
		p("service\t%s  (from the send, ±3%%: what coordinated omission would report)", lat(s.service))
		p("late sends\t%d, by %s on average, %s at most", s.lagged, fmtMs(s.lagMean), fmtMs(s.lagMax))
	} else {
		p("latency\t%s", lat(s.LatencyMs))
	}
	codes := make([]string, 0, len(s.Status))
	for c := range s.Status {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var st []string
	for _, c := range codes {
		st = append(st, fmt.Sprintf("%s: %d", c, s.Status[c]))
	}
	p("status\t%s", strings.Join(st, "  "))
	p("errors\t%d (%.4f%%)", s.Errors, 100*s.ErrorRate)
	for i, e := range s.errorEgs {
		if i == 5 {
			p("\t… and %d more kinds", len(s.errorEgs)-5)
			break
		}
		p("\te.g. %s", e)
	}
	if gets := s.Cache.L1 + s.Cache.L2 + s.untiered + s.Cache.Miss; gets > 0 {
		pct := func(n int64) float64 { return 100 * float64(n) / float64(gets) }
		line := fmt.Sprintf("l1 %d (%.1f%%)  l2 %d (%.1f%%)  ", s.Cache.L1, pct(s.Cache.L1), s.Cache.L2, pct(s.Cache.L2))
		if s.untiered > 0 {
			line += fmt.Sprintf("hit, no tier %d (%.1f%%)  ", s.untiered, pct(s.untiered))
		}
		p("cache\t%smiss %d (%.1f%%)  hit ratio %.4f", line, s.Cache.Miss, pct(s.Cache.Miss), s.Cache.HitRatio)
	}
	for _, t := range s.Thresholds {
		verdict := "PASS"
		if !t.OK {
			verdict = "FAIL"
		}
		p("threshold\t%s %v <= %v\t%s", t.Name, t.Value, t.Limit, verdict)
	}
	if s.Dropped > 0 {
		p("warning\t%d iterations dropped (no free VU and max VUs reached): the latencies above leave them out", s.Dropped)
	}
	result := "PASS"
	switch {
	case s.interrupted:
		result = "INTERRUPTED: cut short by a signal, not a result (no summary written)"
	case !s.Passed:
		result = "FAIL"
	}
	p("result\t%s", result)
	if jsonPath != "" {
		p("summary\t%s", jsonPath)
	}
	tw.Flush()
}

// writeJSON writes the summary to path, creating its directory.
func (s *Summary) writeJSON(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode the summary: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("cannot write the summary: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("cannot write the summary: %w", err)
	}
	return nil
}

// cpuModel is the "model name" of /proc/cpuinfo, or the architecture.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// cores is the machine's logical CPUs: not runtime.NumCPU, which counts
// only those this process may run on, one when taskset pins it.
func cores() int {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.NumCPU()
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, _, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "processor" {
			n++
		}
	}
	if n == 0 {
		return runtime.NumCPU()
	}
	return n
}
