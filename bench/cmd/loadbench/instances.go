package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Instances mode starts three tiercache proxies, A, B and C, on one Redis
// in front of the Go origin, and drives one of them (A, with every wrk
// connection) or all three (one wrk per instance, the connections split
// 22+21+21 of 64) in alternating rounds. While the three run, a side loop
// in this process measures cross-instance staleness under that load: it
// PUTs a key through A and GETs it through B and C, each on its own, until
// each answers the version A's PUT made. It uses sideKeys keys of its own,
// past the workload's, so that it causes no fill of a workload key, and
// takes the origin requests it made off the count.
//
// With two cores every instance and Redis share -server-cpu and every wrk
// -load-cpu: three instances on one core measure coherence and the
// origin's load under load, not scaling.

// instanceCounts are the setups measured, in the order of the table.
var instanceCounts = []int{1, 3}

// sidePace is the pause between two staleness samples: a few hundred PUTs
// in a run, a small share of the workload.
const sidePace = 50 * time.Millisecond

// sideTimeout is how long a reader may answer the old version.
const sideTimeout = 5 * time.Second

// sideKeys is the number of keys the side loop uses.
const sideKeys = 100

// instancesRun is one round of one setup on one workload.
type instancesRun struct {
	Instances      int           `json:"instances"`
	Workload       string        `json:"workload"`
	Round          int           `json:"round"`
	RPS            float64       `json:"rps"` // the sum over the wrk processes
	Requests       int64         `json:"requests"`
	P50            time.Duration `json:"p50_max_ns"` // the highest of the wrk processes'
	P99            time.Duration `json:"p99_max_ns"`
	Errors         int64         `json:"errors"`
	OriginRequests int64         `json:"origin_requests"` // the workload's: the side loop's are taken off
	SideOrigin     int64         `json:"side_origin_requests"`
	SidePuts       int           `json:"side_puts"`
	SideErrors     int           `json:"side_errors"`
	BusyBefore     float64       `json:"busy_before_percent"`
	Wrk            []wrkResult   `json:"wrk"` // one per instance, A first
}

// staleSample is one reader's wait for one PUT through A.
type staleSample struct {
	Workload  string        `json:"workload"`
	Round     int           `json:"round"`
	Reader    string        `json:"reader"`     // b or c
	HitBefore bool          `json:"hit_before"` // the reader's second GET before the PUT was a hit
	Fresh     bool          `json:"fresh"`      // the reader answered the new version within sideTimeout
	Polls     int           `json:"polls"`      // GETs sent after A's answer; 1: the first was fresh
	Lag       time.Duration `json:"lag_ns"`     // from A's answer to the reader's first fresh answer
}

// instancesRow and staleRow are the summaries of the tables.
type instancesRow struct {
	Instances     int     `json:"instances"`
	Workload      string  `json:"workload"`
	RPS           float64 `json:"rps_median"`
	P50           float64 `json:"p50_median_ms"` // the median over rounds of the highest p50 of the wrk processes
	P99           float64 `json:"p99_median_ms"`
	OriginPer1000 float64 `json:"origin_per_1000"`
	Errors        int64   `json:"errors"`
}

type staleRow struct {
	Workload   string  `json:"workload"`
	Reader     string  `json:"reader"`
	Samples    int     `json:"samples"`
	FreshFirst int     `json:"fresh_at_first_read"`
	P50        float64 `json:"lag_p50_ms"`
	P99        float64 `json:"lag_p99_ms"`
	Max        float64 `json:"lag_max_ms"`
	Timeouts   int     `json:"not_fresh_within_5s"`
	NotHit     int     `json:"not_hit_before_put"`
}

func instances(ctx context.Context, c config, stdout, stderr io.Writer) error {
	if c.connections < 3 {
		return fmt.Errorf("-connections %d: -mode instances needs at least 3, one per instance", c.connections)
	}
	oc := c
	oc.keys += sideKeys
	e, err := newEnv(oc, stderr)
	if err != nil {
		return err
	}
	defer e.close()
	e.c.keys = c.keys // the workload's; the side loop's follow them
	c = e.c
	scripts, err := writeScripts(e.dir, c)
	if err != nil {
		return err
	}
	bin, err := e.buildTiercache()
	if err != nil {
		return err
	}
	r, err := e.startRedis("redis", c.serverCPU)
	if err != nil {
		return err
	}
	var proxies []*target
	for _, name := range []string{"a", "b", "c"} {
		t, err := e.startTiercache("tiercache-"+name, bin, r.URL(), c.serverCPU)
		if err != nil {
			return err
		}
		hits, err := warm(t, c.keys, c.itemPrefix())
		if err != nil {
			return err
		}
		if hits < c.keys {
			fmt.Fprintf(stderr, "loadbench: %s: only %d of %d keys hit after warming\n", t.name, hits, c.keys)
		}
		proxies = append(proxies, t)
	}

	started := time.Now()
	loadStart := loadavg()
	var runs []instancesRun
	var samples []staleSample
	for _, w := range c.workloads {
		for round := range c.rounds {
			for i := range instanceCounts {
				n := instanceCounts[(i+round)%len(instanceCounts)]
				if err := ctx.Err(); err != nil {
					return err
				}
				run, s, err := measureInstances(ctx, e, proxies[:n], proxies[1:], w, round, scripts[w])
				if err != nil {
					return fmt.Errorf("%d instances %s: %w", n, w, err)
				}
				fmt.Fprintf(stderr, "%d instance(s) %-5s round %d: %8.0f req/s  p50 %.2fms  p99 %.2fms (max of wrks)  origin %d  side PUTs %d  busy before %.0f%%\n",
					n, w, round+1, run.RPS, ms(run.P50), ms(run.P99), run.OriginRequests, run.SidePuts, run.BusyBefore)
				runs, samples = append(runs, run), append(samples, s...)
				time.Sleep(time.Second)
			}
		}
	}
	rows, stale := summarizeInstances(runs, samples, c)
	var tables strings.Builder
	writeInstancesMarkdown(&tables, rows, stale, c)
	fmt.Fprint(stdout, tables.String())
	if c.out == "" {
		return nil
	}
	report := map[string]any{
		"started": started.UTC().Format(time.RFC3339), "loadavg_start": loadStart, "loadavg_end": loadavg(),
		"cpus": runtime.NumCPU(), "kernel": strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")),
		"config": map[string]any{"origin": "go", "instances": instanceCounts, "duration": c.duration.String(), "rounds": c.rounds,
			"connections": c.connections, "threads": c.threads, "keys": c.keys, "put_percent": c.putPercent,
			"server_cpu": c.serverCPU, "load_cpu": c.loadCPU, "origin_cpu": c.originCPU, "wait_quiet": c.waitQuiet.String(),
			"side_pace": sidePace.String(), "side_timeout": sideTimeout.String()},
		"summary": rows, "staleness": stale, "runs": runs, "staleness_samples": samples,
	}
	md := fmt.Sprintf("Started %s; `loadbench -mode instances` (make bench-full).\n\n%s", started.UTC().Format(time.RFC3339), tables.String())
	return writeReport(c.out, md, report)
}

// split divides total connections among n wrk processes, the first ones
// taking the remainder: 64 over 3 is 22, 21, 21.
func split(total, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = total / n
		if i < total%n {
			out[i]++
		}
	}
	return out
}

// measureInstances runs one wrk per instance of driven, at once, with the
// connections split among them, and with more than one instance the side
// loop, which PUTs through driven[0] and reads through readers.
func measureInstances(ctx context.Context, e *env, driven, readers []*target, workload string, round int, script string) (instancesRun, []staleSample, error) {
	c := e.c
	run := instancesRun{Instances: len(driven), Workload: workload, Round: round + 1, Wrk: make([]wrkResult, len(driven))}
	run.BusyBefore = waitQuiet(ctx, c.waitQuiet)
	before, err := originRequests(e.originURL)
	if err != nil {
		return run, nil, err
	}
	stop := make(chan struct{})
	var side sideResult
	var sideDone sync.WaitGroup
	if len(driven) > 1 {
		sideDone.Go(func() { side = sideLoop(stop, c, driven[0], readers) })
	}
	errs := make([]error, len(driven))
	var wrks sync.WaitGroup
	for i, conns := range split(c.connections, len(driven)) {
		wc := c
		wc.connections, wc.threads = conns, min(c.threads, conns)
		wrks.Go(func() { run.Wrk[i], errs[i] = runWrk(ctx, wc, c.loadCPU, script, driven[i].url) })
	}
	wrks.Wait()
	close(stop)
	sideDone.Wait()
	for i, err := range errs {
		if err != nil {
			return run, nil, fmt.Errorf("%s: %w", driven[i].name, err)
		}
	}
	after, err := originRequests(e.originURL)
	if err != nil {
		return run, nil, err
	}
	run.OriginRequests = after - before - side.origin
	for _, w := range run.Wrk {
		run.RPS += w.RPS
		run.Requests += w.Requests
		run.P50, run.P99 = max(run.P50, w.P50), max(run.P99, w.P99)
		run.Errors += w.Non2xx3xx + w.SocketErrors
	}
	run.SidePuts, run.SideErrors, run.SideOrigin = side.puts, side.errors, side.origin
	for i := range side.samples {
		side.samples[i].Workload, side.samples[i].Round = workload, round+1
	}
	return run, side.samples, nil
}

type sideResult struct {
	samples      []staleSample
	puts, errors int
	origin       int64 // requests that reached the origin: the PUTs, and GETs answered by a fill
}

// sideLoop takes staleness samples until stop is closed, one every
// sidePace: each reader GETs the key twice (so that it holds it in L1,
// which the second GET tells), the writer PUTs it, and each reader,
// concurrently, GETs it back to back until it answers the version the PUT
// made or sideTimeout passes. A sample under way when
// stop closes is finished, so the loop ends at most sideTimeout later. A
// request that fails (under load, a timeout) is counted and its sample
// dropped. The keys are c.keys to c.keys+sideKeys-1, which nothing else
// reads, so a GET that reached the origin is one whose Cache-Status says it
// was forwarded.
func sideLoop(stop <-chan struct{}, c config, writer *target, readers []*target) (res sideResult) {
	var origin atomic.Int64
	defer func() { res.origin = origin.Load() }()
	forwarded := func(cacheStatus string) {
		if strings.Contains(cacheStatus, "fwd=") {
			origin.Add(1)
		}
	}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return res
		case <-time.After(sidePace):
		}
		path := c.itemPrefix() + strconv.Itoa(c.keys+i%sideKeys)
		hit := make([]bool, len(readers))
		failed := false
		for j, r := range readers {
			for range 2 { // tiercache keeps a key in L1 from its second read on
				status, h, _, err := get(r.url+path, []byte(r.header))
				failed = failed || err != nil || status != 200
				hit[j] = r.hit(h)
				forwarded(h)
			}
		}
		status, _, body, err := do("PUT", writer.url+path, nil)
		res.puts++
		origin.Add(1)
		want, ok := version(body)
		if failed || err != nil || status != 200 || !ok {
			res.errors++
			continue
		}
		acked := time.Now()
		samples := make([]staleSample, len(readers))
		var wg sync.WaitGroup
		for j, r := range readers {
			wg.Go(func() {
				s := staleSample{Reader: strings.TrimPrefix(r.name, "tiercache-"), HitBefore: hit[j]}
				for time.Since(acked) < sideTimeout {
					s.Polls++
					_, h, body, err := get(r.url+path, []byte(r.header))
					forwarded(h)
					if err == nil {
						if v, ok := version(body); ok && v >= want {
							s.Fresh, s.Lag = true, time.Since(acked)
							break
						}
					}
				}
				samples[j] = s
			})
		}
		wg.Wait()
		res.samples = append(res.samples, samples...)
	}
}

func summarizeInstances(runs []instancesRun, samples []staleSample, c config) ([]instancesRow, []staleRow) {
	var rows []instancesRow
	var stale []staleRow
	for _, w := range c.workloads {
		for _, n := range instanceCounts {
			var rps []float64
			var p50, p99 []time.Duration
			var reqs, origin, errs int64
			for _, r := range runs {
				if r.Instances == n && r.Workload == w {
					rps, p50, p99 = append(rps, r.RPS), append(p50, r.P50), append(p99, r.P99)
					reqs, origin, errs = reqs+r.Requests, origin+r.OriginRequests, errs+r.Errors
				}
			}
			if len(rps) == 0 {
				continue
			}
			x := instancesRow{Instances: n, Workload: w, RPS: median(rps), P50: ms(median(p50)), P99: ms(median(p99)), Errors: errs}
			if reqs > 0 {
				x.OriginPer1000 = float64(origin) * 1000 / float64(reqs)
			}
			rows = append(rows, x)
		}
		for _, reader := range []string{"b", "c"} {
			s := staleRow{Workload: w, Reader: reader}
			var lags []time.Duration
			for _, x := range samples {
				if x.Workload != w || x.Reader != reader {
					continue
				}
				s.Samples++
				switch {
				case !x.Fresh:
					s.Timeouts++
				case x.Polls == 1:
					s.FreshFirst++
				}
				if !x.HitBefore {
					s.NotHit++
				}
				if x.Fresh {
					lags = append(lags, x.Lag)
				}
			}
			if s.Samples == 0 {
				continue
			}
			slices.Sort(lags)
			s.P50, s.P99, s.Max = ms(percentile(lags, 0.5)), ms(percentile(lags, 0.99)), ms(percentile(lags, 1))
			stale = append(stale, s)
		}
	}
	return rows, stale
}

// percentile returns the p-quantile of sorted xs, by the nearest rank
// below; 0 for none.
func percentile(xs []time.Duration, p float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	return xs[min(len(xs)-1, int(p*float64(len(xs))))]
}

func writeInstancesMarkdown(w io.Writer, rows []instancesRow, stale []staleRow, c config) {
	var conns []string
	for _, n := range split(c.connections, 3) {
		conns = append(conns, strconv.Itoa(n))
	}
	fmt.Fprintf(w, "tiercache proxy instances on one Redis in front of the Go origin (%d keys, max-age=3600); one wrk -t%d per instance, "+
		"-c%d for one instance and -c%s for three; %d rounds of %v; mixed = %g%% PUT. "+
		"req/s is the sum over the wrk processes; p50 and p99 are the highest of the wrk processes', medians of rounds. "+
		"Every instance and Redis run on CPU %d, every wrk on CPU %d: three instances on one core measure coherence and the origin's load under load, not scaling.\n\n",
		c.keys, c.threads, c.connections, strings.Join(conns, "+"), c.rounds, c.duration, c.putPercent, c.serverCPU, c.loadCPU)
	fmt.Fprintln(w, "| instances | workload | req/s | p50 | p99 | origin req / 1000 | errors |")
	fmt.Fprintln(w, "|--:|---|--:|--:|--:|--:|--:|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %d | %s | %.0f | %.2f ms | %.2f ms | %.1f | %d |\n", r.Instances, r.Workload, r.RPS, r.P50, r.P99, r.OriginPer1000, r.Errors)
	}
	fmt.Fprintf(w, "\nCross-instance staleness during the three-instance runs: a loop outside wrk, every %v, GETs a key twice through B and C, "+
		"PUTs it through A and then GETs it through B and C, each back to back, until each answers the new version; "+
		"the lag runs from A's answer to the reader's first fresh answer, that answer's round trip included. "+
		"It uses %d keys of its own, which wrk does not touch, and the origin requests it caused (its PUTs, and the fills its GETs' Cache-Status reports) "+
		"are not counted above.\n\n", sidePace, sideKeys)
	fmt.Fprintln(w, "| workload | reader | samples | fresh at first read | lag p50 | p99 | max | not fresh within 5s | not a hit before the PUT |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|")
	for _, s := range stale {
		fmt.Fprintf(w, "| %s | %s | %d | %d | %.2f ms | %.2f ms | %.2f ms | %d | %d |\n",
			s.Workload, s.Reader, s.Samples, s.FreshFirst, s.P50, s.P99, s.Max, s.Timeouts, s.NotHit)
	}
}
