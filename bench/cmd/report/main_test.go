package main

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tiercache/tiercache/loadtest"
)

const raw = `goos: linux
pkg: github.com/tiercache/tiercache/bench
BenchmarkCore/l1-hit-2   	 5941381	       101.0 ns/op	         1.000 l1-hit-ratio	       0 B/op	       0 allocs/op
BenchmarkCore/l1-hit-2   	 5941381	       99.00 ns/op	         1.000 l1-hit-ratio	       0 B/op	       0 allocs/op
BenchmarkCore/l1-hit-2   	 5941381	       150.0 ns/op	         1.000 l1-hit-ratio	       0 B/op	       0 allocs/op
BenchmarkHTTP/bare-2     	  141642	      4000 ns/op	       1 B/op	       0 allocs/op
BenchmarkHTTP/l1-hit-2   	  134706	      4400 ns/op	         1.000 l1-hit-ratio	       1 B/op	       0 allocs/op
BenchmarkRegister/tiers=L1+L2/clients=64-2        	--- FAIL: BenchmarkRegister/tiers=L1+L2/clients=64
BenchmarkRegister/tiers=L1+L2/clients=64-2   	 26925	     38729 ns/op	     25820 creates/s	         4.000 redis-cmds/op	    5889 B/op	      81 allocs/op
BenchmarkConfigs/users=1M/dist=zipf1.2/tiers=L1+L2/l1=10%-2   	  100000	      2258 ns/op	         0.9200 l1-hit-ratio	         1.000 l2-hit-ratio	         0.3999 redis-cmds/op	    442841 req/s	         0 store-loads/op	     206 B/op	       2 allocs/op
PASS
`

const redisBench = "# comment\n" +
	"-c 1,\"GET\",\"15105.74\",\"0.064\",\"0.008\",\"0.071\",\"0.095\"\n" +
	"-c 1 -P 32,\"GET\",\"400000.00\",\"0.079\",\"0.024\",\"0.079\",\"0.103\"\n"

func mustParse(t *testing.T, s string) results {
	t.Helper()
	r, err := parseRaw(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// bench is a line of `go test -bench` output: name (without Benchmark and
// the -GOMAXPROCS suffix) and "value unit" pairs.
func bench(name, metrics string) string {
	return fmt.Sprintf("Benchmark%s-2\t1000\t%s\n", name, metrics)
}

func TestParse(t *testing.T) {
	t.Parallel()
	r := mustParse(t, raw)
	if got := r.stat("Core/l1-hit", "ns/op"); got.median != 101 || got.n != 3 || got.max != 150 || got.spread < 0.485 || got.spread > 0.486 {
		t.Errorf("got %+v; want median 101 of 3, max 150, spread 49/101", got)
	}
	if got := len(r["Register/tiers=L1+L2/clients=64"]["creates/s"]); got != 1 {
		t.Errorf("got %d register results; want 1 (the FAIL line is no result)", got)
	}
	if x, ok := r.ratio("HTTP/l1-hit", "HTTP/bare"); !ok || x != 1.1 {
		t.Errorf("got ratio %v, %v; want 1.1", x, ok)
	}
	if _, err := parseRaw(strings.NewReader("PASS\n")); err == nil {
		t.Error("got no error for output without results")
	}

	e := parseEnv("date: today\ngo: go version go1.26.8 linux/amd64\ncores: 2\ncommand: go test -bench ^Benchmark(Core|HTTP)$ ./bench/\ncommand: redis-benchmark -t get\nfailed: yes\n")
	if got := e.goVersion(); got != "go1.26.8" {
		t.Errorf("got go version %q; want go1.26.8", got)
	}
	if got := e.command("HTTP", ""); !strings.Contains(got, "Core|HTTP") {
		t.Errorf("got command %q for HTTP; want the -bench one", got)
	}
	if got := e.command("Configs", ""); got != "" {
		t.Errorf("got command %q for Configs; want none", got)
	}
	if got := e.command("", "redis-benchmark"); got != "redis-benchmark -t get" {
		t.Errorf("got command %q; want redis-benchmark's", got)
	}
	if !e.failed {
		t.Error("got failed false; want true")
	}

	runs, note := parseRedisBenchmark(redisBench)
	if len(runs) != 2 || note != "" {
		t.Fatalf("got %+v, %q; want 2 runs", runs, note)
	}
	if p := runs[1]; p.conns != 1 || p.pipeline != 32 || p.rps != 400000 || p.p50 != 0.079 {
		t.Errorf("got %+v; want 1 connection, 32 pipelined, 400000/s, p50 0.079", p)
	}
	if runs, note := parseRedisBenchmark("redis-benchmark not installed\n"); len(runs) != 0 || note != "redis-benchmark not installed" {
		t.Errorf("got %+v, %q; want no runs and the note", runs, note)
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	runs, _ := parseRedisBenchmark(redisBench)
	doc := render(report{
		r:      mustParse(t, raw),
		env:    parseEnv("date: today\ncpu: Test CPU\ncores: 2\ncommand: go test -bench .\nfailed: yes\n"),
		redis:  runs,
		charts: map[string]string{"configs.png": "bench/charts/configs.png"},
	})
	for _, want := range []string{
		"- cores: 2", "go test -bench .", "Some benchmarks of this run failed",
		"| `core` L1 hit: 0 allocs/op, ≤ 100 ns/op | 0 allocs/op, 101 ns ±49% | **missed** |",
		"| HTTP L1 hit, in-memory listener: 0 allocs/op, ≤ 1.15× bare | 0 allocs/op, 1.10× | met |",
		"| register, bbolt, 64 clients: ≥ 10,000/s | 25,820/s | met |",
		"| stampede, 1,000 GETs of one uncached user: 1 store load | – | not measured |",
		"| zipf1.2 | L1+L2 | 10% | 442,841/s | 2.26 µs | 2 | 92.0% | 100.0% | 0.40 | 0.000 | 1 |",
		"| `-c 1` | 15,106/s | 0.071 ms |",
		"Run: `go test -bench .` on Test CPU, 2 cores",
		"![requests/s per set of tiers and workload](bench/charts/configs.png)",
		"2 of the 3 targets measured are met (4 targets not measured); missed: the `core` L1 hit (101 ns, 1.0% over 100 ns).",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("output lacks %q:\n%s", want, doc)
		}
	}
	for _, unwanted := range []string{"![ns/op per read path]", "## Load tests", "%!", "NaN", "Inf"} {
		if strings.Contains(doc, unwanted) {
			t.Errorf("output has %q:\n%s", unwanted, doc)
		}
	}
}

// TestCommittedResults renders the results in bench/results, as `make
// bench` does, and looks for formatting mistakes.
func TestCommittedResults(t *testing.T) {
	t.Parallel()
	rep, err := load(filepath.Join("..", "..", "results"))
	if err != nil {
		t.Fatal(err)
	}
	doc := render(rep)
	for _, unwanted := range []string{"%!", "NaN", "Inf", "–×"} {
		if strings.Contains(doc, unwanted) {
			t.Errorf("output has %q", unwanted)
		}
	}
	if n := strings.Count(doc, whatThisMeans); n < 7 {
		t.Errorf("got %d paragraphs; want one under each of the 8 tables (the redis-benchmark one may lack data)", n)
	}
}

// sentences is every paragraph that the prose functions write for r.
func sentences(r results) string {
	var s []string
	s = append(s, pathsProse(r)...)
	s = append(s, stampedeProse(r, "2")...)
	cs := r.configSet()
	for _, u := range cs.users {
		s = append(s, configsProse(r, cs, u)...)
	}
	s = append(s, hitRatioProse(r, cs)...)
	s = append(s, registerProse(r)...)
	s = append(s, writesProse(r)...)
	return strings.Join(s, "\n")
}

// flipping is a run in which each comparison that a paragraph depends on
// goes one way when up is true and the other way when false.
func flipping(up bool) results {
	pick := func(a, b float64) float64 {
		if up {
			return a
		}
		return b
	}
	var b strings.Builder
	b.WriteString(bench("Core/l1-hit", "100 ns/op 0 allocs/op"))
	b.WriteString(bench("Core/negative-l1", fmt.Sprintf("%g ns/op 0 allocs/op", pick(100, 300))))
	b.WriteString(bench("Core/l2-hit-local", "2800 ns/op"))
	b.WriteString(bench("Core/l2-hit-redis", fmt.Sprintf("%g ns/op 5 redis-cmds/op", pick(50000, 4000))))
	b.WriteString(bench("Core/l2-hit-redis-32g", fmt.Sprintf("%g ns/op 5 redis-cmds/op", pick(12000, 4000))))
	b.WriteString(bench("Core/store-memory", "2800 ns/op"))
	b.WriteString(bench("Core/store-bolt", "6400 ns/op"))
	b.WriteString(bench("Core/stampede", fmt.Sprintf("2800000 ns/op %g store-loads/op 1000 coalesced/op 9 redis-cmds/op", pick(1, 2))))
	b.WriteString(bench("Handler/bare", "136 ns/op"))
	b.WriteString(bench("Handler/l1-hit", "300 ns/op"))
	b.WriteString(bench("HTTP/bare", "3000 ns/op"))
	b.WriteString(bench("HTTP/l1-hit", "3200 ns/op"))
	cfg := func(dist, tiers, size string, rps, l1 float64) {
		m := fmt.Sprintf("%g ns/op %g req/s 10 allocs/op", 1e9/rps, rps)
		if l1 >= 0 {
			m += fmt.Sprintf(" %g l1-hit-ratio", l1)
		}
		if strings.Contains(tiers, "L2") {
			m += " 1 l2-hit-ratio 4 redis-cmds/op"
		}
		b.WriteString(bench(cfgName("users=100k", dist, tiers, size), m))
	}
	for _, d := range []string{"dist=uniform", "dist=zipf1.2"} {
		skew := d != "dist=uniform"
		cfg(d, "none", "0%", 300_000, -1)
		cfg(d, "L1", "1%", 200_000, map[bool]float64{false: 0.01, true: 0.8}[skew])
		cfg(d, "L1", "10%", map[bool]float64{false: pick(180_000, 600_000), true: 1_500_000}[skew], map[bool]float64{false: 0.1, true: 0.92}[skew])
		cfg(d, "L2", "0%", pick(70_000, 900_000), -1)
		cfg(d, "L1+L2", "10%", 500_000, map[bool]float64{false: 0.1, true: 0.92}[skew])
	}
	b.WriteString(bench("Register/tiers=L1+L2/clients=1", "550000 ns/op 1800 creates/s 1 writes/commit"))
	b.WriteString(bench("Register/tiers=L1+L2/clients=64", fmt.Sprintf("40000 ns/op 25000 creates/s %g writes/commit 4 redis-cmds/op", pick(20, 1))))
	b.WriteString(bench("Register/tiers=none/clients=1", "340000 ns/op 2900 creates/s 1 writes/commit"))
	b.WriteString(bench("Register/tiers=none/clients=64", fmt.Sprintf("26000 ns/op %g creates/s 30 writes/commit", pick(38000, 25500))))
	b.WriteString(bench("Write/update", "40000 ns/op 25000 writes/s 1 invalidations/op 9 redis-cmds/op"))
	r, err := parseRaw(strings.NewReader(b.String()))
	if err != nil {
		panic(err)
	}
	return r
}

// TestProseFollowsDirection feeds two runs whose comparisons go opposite
// ways and checks that each sentence that depends on one flips with it.
func TestProseFollowsDirection(t *testing.T) {
	t.Parallel()
	up, down := sentences(flipping(true)), sentences(flipping(false))
	for _, c := range []struct {
		what       string
		up, down   string // in the first run's text, in the second's
		upOnlyNeed bool
	}{
		{what: "negative hit against L1 hit", up: "a negative hit costs about the same (100 ns)", down: "a negative hit costs 300 ns, 3.00× as much as a hit"},
		{what: "Redis against the disk store", up: "L2 buys one copy shared by every instance, not speed", down: "L2 is faster than the disk store even when it has to ask Redis"},
		{what: "concurrency on one connection", up: "32 concurrent readers instead of GOMAXPROCS get 4.17× the reads per second", down: "get no more reads per second than GOMAXPROCS readers"},
		{what: "stampede coalescing", up: "made 1.00 store load per stampede, and all 1,000 readers", down: "made up to 2.00 store loads per stampede: some misses were not coalesced"},
		{what: "L1 on uniform reads", up: "but lowers them to 0.60× on uniform", down: "raises requests/s over no cache 2.00× on uniform (10.0% L1 hits) and 5.00× on zipf1.2"},
		{what: "L2 alone against no cache", up: "L2 alone is slower than no cache on every workload", down: "L2 alone reaches 3.00× on uniform and 3.00× on zipf1.2 the requests/s of no cache"},
		{what: "group commit", up: "Group commit is what lifts registrations", down: "Group commit did not engage"},
		{what: "tiers on registration", up: "The tiers cost registrations: each also writes Redis", down: "The tiers cost registrations nothing measurable"},
	} {
		if !strings.Contains(up, c.up) {
			t.Errorf("%s: first run lacks %q:\n%s", c.what, c.up, up)
		}
		if strings.Contains(down, c.up) {
			t.Errorf("%s: second run still says %q:\n%s", c.what, c.up, down)
		}
		if !strings.Contains(down, c.down) {
			t.Errorf("%s: second run lacks %q:\n%s", c.what, c.down, down)
		}
		if strings.Contains(up, c.down) {
			t.Errorf("%s: first run already says %q:\n%s", c.what, c.down, up)
		}
	}
}

func TestDirection(t *testing.T) {
	t.Parallel()
	s := func(m, spread float64) stat { return stat{median: m, spread: spread, n: 2, ok: true} }
	for _, c := range []struct {
		a, b stat
		want int
	}{
		{s(106, 0), s(100, 0), 1},
		{s(104, 0), s(100, 0), 0},    // within 5%
		{s(110, 0.12), s(100, 0), 0}, // within a's spread
		{s(94, 0), s(100, 0), -1},
		{s(96, 0.01), s(100, 0.01), 0},
	} {
		if got := direction(c.a, c.b); got != c.want {
			t.Errorf("direction(%v, %v) = %d; want %d", c.a.median, c.b.median, got, c.want)
		}
	}
}

func TestTargets(t *testing.T) {
	t.Parallel()
	verdicts := func(raw string, redis []redisRun) map[string]verdict {
		t.Helper()
		m := make(map[string]verdict)
		for _, tg := range targets(mustParse(t, raw), redis, "2", nil) {
			m[tg.short] = tg.verdict
			if tg.verdict == missed && (tg.gap == "" || tg.note == "") {
				t.Errorf("%s: missed without gap or cause: %+v", tg.short, tg)
			}
		}
		return m
	}
	redis := []redisRun{{args: "-c 1", conns: 1, pipeline: 1, rps: 15000}, {args: "-c 1 -P 32", conns: 1, pipeline: 32, rps: 400000}}
	pass := bench("Core/l1-hit", "99 ns/op 0 allocs/op") + bench("Core/l1-hit-otter", "70 ns/op 0 allocs/op") +
		bench("HTTP/bare", "3000 ns/op 0 allocs/op") + bench("HTTP/l1-hit", "3300 ns/op 0 allocs/op") +
		bench("Handler/bare", "136 ns/op") + bench("Handler/l1-hit", "300 ns/op") +
		bench("Register/tiers=L1+L2/clients=64", "40000 ns/op 25000 creates/s 20 writes/commit") +
		bench("Core/stampede", "2800000 ns/op 1 store-loads/op") +
		bench("Core/l2-hit-redis", "50000 ns/op 5 redis-cmds/op") +
		bench("Core/l2-hit-redis-32g", "2000 ns/op 5 redis-cmds/op") +
		bench("L1Memory/budget=16MiB/l1=ristretto", "15 heap-MiB 0.9375 heap/budget 45934 users-held")
	fail := bench("Core/l1-hit", "99 ns/op 0 allocs/op") + bench("Core/l1-hit", "101 ns/op 0 allocs/op") + bench("Core/l1-hit", "102 ns/op 0 allocs/op") +
		bench("Core/l1-hit-otter", "120 ns/op 0 allocs/op") +
		bench("HTTP/bare", "3000 ns/op 0 allocs/op") + bench("HTTP/l1-hit", "3500 ns/op 0 allocs/op") +
		bench("Register/tiers=L1+L2/clients=64", "40000 ns/op 9999 creates/s 2 writes/commit") +
		bench("Core/stampede", "2800000 ns/op 1 store-loads/op") + bench("Core/stampede", "2800000 ns/op 2 store-loads/op") +
		bench("Core/l2-hit-redis", "70000 ns/op 5 redis-cmds/op") +
		bench("Core/l2-hit-redis-32g", "12000 ns/op 5 redis-cmds/op") +
		bench("L1Memory/budget=16MiB/l1=ristretto", "19.2 heap-MiB 1.2 heap/budget 45934 users-held")
	const otterHit = "the `core` L1 hit with `-l1-backend otter`"
	but := func(m map[string]verdict, k string, v verdict) map[string]verdict {
		m[k] = v
		return m
	}
	want := func(v verdict) map[string]verdict {
		return map[string]verdict{
			"the `core` L1 hit": v, otterHit: v, "the HTTP L1 hit": v, "registration": v, "the stampede": v,
			"the L2 hit from Redis with GOMAXPROCS readers": v, "the L2 hit from Redis with 32 readers": v,
			"L1 memory": v,
		}
	}
	for _, c := range []struct {
		name  string
		raw   string
		redis []redisRun
		want  map[string]verdict
	}{
		{"all met", pass, redis, want(met)},
		{"all missed", fail, redis, want(missed)},
		{"allocations miss", strings.Replace(pass, "99 ns/op 0 allocs/op", "99 ns/op 1 allocs/op", 1), redis,
			func() map[string]verdict { m := want(met); m["the `core` L1 hit"] = missed; return m }()},
		{"otter allocates", strings.Replace(pass, "70 ns/op 0 allocs/op", "70 ns/op 1 allocs/op", 1), redis, but(want(met), otterHit, missed)},
		{"no otter", withoutOtter(pass), redis, but(want(met), otterHit, unmeasured)},
		{"no redis-benchmark", pass, nil,
			func() map[string]verdict {
				m := want(met)
				m["the L2 hit from Redis with GOMAXPROCS readers"], m["the L2 hit from Redis with 32 readers"] = unmeasured, unmeasured
				return m
			}()},
		{"no results", bench("Write/update", "1 ns/op"), redis, want(unmeasured)},
	} {
		got := verdicts(c.raw, c.redis)
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("%s: %s: got %v; want %v", c.name, k, got[k], v)
			}
		}
	}

	// Otter's row is there only when the run measured otter.
	for _, c := range []struct {
		raw  string
		want int
	}{{pass, 1}, {withoutOtter(pass), 0}, {bench("Write/update", "1 ns/op"), 0}} {
		n := 0
		for _, tg := range targets(mustParse(t, c.raw), redis, "2", nil) {
			if tg.variant {
				n++
			}
		}
		if n != c.want {
			t.Errorf("got %d otter targets; want %d", n, c.want)
		}
	}

	// The causes carry this run's numbers; otter's row is not counted.
	var b strings.Builder
	renderTargets(&b, targets(mustParse(t, fail), redis, "2", nil))
	for _, want := range []string{
		"| 0 allocs/op, 101 ns ±2% | **missed** | ristretto's Get (hashing the key, a time.Now for the TTL check) |",
		"| 0 allocs/op, 120 ns | **missed** | otter's Get, not profiled; ristretto's L1 hit takes 101 ns in the same run |",
		"(0.21× the GETs/s)", "each read is 5.00 Redis commands",
		"416,667 commands/s, 1.04× its GETs/s",
		"0 of the 7 targets measured are met; missed: ",
		"the stampede (up to 2.00 store loads)",
		"Measured on a configuration other than the default, and not counted: the `core` L1 hit with `-l1-backend otter` is missed (120 ns, 20% over 100 ns).",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("targets lack %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	renderTargets(&b, targets(mustParse(t, strings.Replace(pass, "70 ns/op 0 allocs/op", "70 ns/op 1 allocs/op", 1)), redis, "2", nil))
	if want := "7 of the 7 targets measured are met. Measured on a configuration other than the default, and not counted: the `core` L1 hit with `-l1-backend otter` is missed (1 allocs per read)."; !strings.Contains(b.String(), want) {
		t.Errorf("targets lack %q:\n%s", want, b.String())
	}
}

func TestLoadTests(t *testing.T) {
	t.Parallel()
	runs, err := readLoadRuns(filepath.Join("testdata", "loadtest"))
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 4 {
		t.Fatalf("got %d runs; want 4", len(runs))
	}
	var b strings.Builder
	report{loads: runs}.renderLoadTests(&b)
	doc := b.String()
	for _, want := range []string{
		"## Load tests",
		"Run: `make loadtest-all` on Test CPU, 2 cores, go1.26.8, from 2026-11-27T10:00:00Z.",
		"| read-heavy | open | tiercache | 4,000/s | 4,000/s | 0 | 0.21 | 0.50 | 1.20 | 9.10 | 0.0% | 96.0% | passed |",
		"| read-heavy | open | bare | 4,000/s | 4,000/s | 0 | 0.10 | 0.25 | 0.60 | 4.00 | 0.0% | – | passed |",
		"| register-burst | closed | tiercache | 64 VUs | 10,000/s | 0 | 5.50 | 30.25 | 80.00 | 210.50 | 0.1% | 0.0% | **failed**: p95_ms 30.25 > 25 |",
		"| read-heavy | open | 4,000/s | 4,000/s | 1.00× | 2.00× |",
		"| register-burst | closed | 10,000/s | 20,000/s | 0.50× | 5.00× |",
		"3 of the 4 runs passed their thresholds; failed: register-burst (closed, tiercache).",
		"Against the bare server, tiercache served 0.50× to 1.00× its requests/s; under the open model",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("load tests lack %q:\n%s", want, doc)
		}
	}
	// Tiercache before bare, scenarios in order.
	if i, j := strings.Index(doc, "| read-heavy | open | tiercache"), strings.Index(doc, "| read-heavy | open | bare"); i < 0 || j < i {
		t.Errorf("tiercache does not come before bare:\n%s", doc)
	}

	none, err := readLoadRuns(filepath.Join(t.TempDir(), "loadtest"))
	if err != nil || len(none) != 0 {
		t.Errorf("got %v, %v for a missing directory; want no runs", none, err)
	}
	b.Reset()
	report{}.renderLoadTests(&b)
	if b.Len() != 0 {
		t.Errorf("got a load test section without runs:\n%s", b.String())
	}

	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "x.json"), []byte(`{"scenario":`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readLoadRuns(bad); err == nil {
		t.Error("got no error for a truncated file")
	}
}

// resultsDir writes a results directory with the committed raw results and
// the load test fixture.
func resultsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"raw.txt", "env.txt", "redis-benchmark.txt"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "results", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "loadtest"), 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "loadtest", "*.json"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "loadtest", filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRunWritesCharts(t *testing.T) {
	t.Parallel()
	results := resultsDir(t)
	out := t.TempDir()
	md := filepath.Join(out, "BENCHMARKS.md")
	charts := filepath.Join(out, "bench", "charts")
	if err := run([]string{"-results", results, "-o", md, "-charts", charts}, nil); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	first := make(map[string][]byte)
	for _, c := range []struct {
		file string
		w, h int
	}{
		{"paths.png", 800, 520},
		{"configs.png", 800, 450},
		{"hit-ratio.png", 800, 450},
	} {
		data, err := os.ReadFile(filepath.Join(charts, c.file))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if b := img.Bounds(); b.Dx() != c.w || b.Dy() != c.h {
			t.Errorf("%s: got %d×%d px; want %d×%d", c.file, b.Dx(), b.Dy(), c.w, c.h)
		}
		if link := "](bench/charts/" + c.file + ")"; !bytes.Contains(doc, []byte(link)) {
			t.Errorf("BENCHMARKS.md lacks the link %q", link)
		}
		first[c.file] = data
	}
	if !bytes.Contains(doc, []byte("## Load tests")) {
		t.Error("BENCHMARKS.md lacks the load tests of the results")
	}

	// The same results draw the same bytes.
	if err := run([]string{"-results", results, "-o", md, "-charts", charts}, nil); err != nil {
		t.Fatal(err)
	}
	for f, want := range first {
		got, err := os.ReadFile(filepath.Join(charts, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: a second run drew different bytes", f)
		}
	}

	// Results without configurations remove their charts.
	small := t.TempDir()
	for f, data := range map[string]string{
		"raw.txt": bench("Core/l1-hit", "100 ns/op 0 allocs/op") + bench("HTTP/bare", "3000 ns/op"),
		"env.txt": "cores: 2\n",
	} {
		if err := os.WriteFile(filepath.Join(small, f), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := run([]string{"-results", small, "-o", md, "-charts", charts}, nil); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]bool{"paths.png": true, "configs.png": false, "hit-ratio.png": false} {
		if _, err := os.Stat(filepath.Join(charts, f)); (err == nil) != want {
			t.Errorf("%s: got stat error %v; want the file to exist: %v", f, err, want)
		}
	}

	// Without charts, nothing links to one.
	var stdout bytes.Buffer
	if err := run([]string{"-results", results, "-o", "-", "-charts", ""}, &stdout); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout.String(), ".png)") {
		t.Error("got a chart link with -charts \"\"")
	}
}

func TestNumRoundsHalfAwayFromZero(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		v    float64
		prec int
		want string
	}{
		{4.5, 0, "5"}, {2.5, 0, "3"}, {15.5, 0, "16"}, {0.125, 2, "0.13"}, {1.0, 2, "1.00"},
	} {
		if got := num(stat{median: c.v, ok: true}, c.prec); got != c.want {
			t.Errorf("num(%v, %d) = %q; want %q", c.v, c.prec, got, c.want)
		}
	}
}

// otterRaw is testdata/otter.txt: the L1 hits and the configs with L2
// behind either L1 library, ristretto and otter. Against ristretto, otter's
// L1 hit is faster in core and in the handler and ties over HTTP; its
// configs are faster on 2, slower on 1 and tie on 5, hit more often on 1,
// and allocate less on 2.
func otterRaw(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "otter.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// swapL1 exchanges the results of the two L1 libraries, which reverses
// every comparison between them.
func swapL1(raw string) string {
	return strings.NewReplacer(
		"l1-hit-otter-2", "l1-hit-2", "l1-hit-2", "l1-hit-otter-2",
		"tiers=otter+L2", "tiers=L1+L2", "tiers=L1+L2", "tiers=otter+L2",
	).Replace(raw)
}

// withoutOtter drops the otter lines, as in a run from before otter.
func withoutOtter(raw string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(raw, "\n") {
		if !strings.Contains(line, "otter") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func renderRaw(t *testing.T, raw string) string {
	t.Helper()
	return render(report{
		r:      mustParse(t, raw),
		env:    parseEnv("cpu: Test CPU\ncores: 2\n"),
		charts: map[string]string{"hit-ratio.png": "bench/charts/hit-ratio.png"},
	})
}

func TestOtter(t *testing.T) {
	t.Parallel()
	raw := otterRaw(t)
	doc, swapped := renderRaw(t, raw), renderRaw(t, swapL1(raw))
	for _, c := range []struct {
		what      string
		doc, swap string // in the run as measured, in the swapped one
	}{
		{what: "paths row",
			doc:  "| L1 hit, otter instead of ristretto (`-l1-backend otter`) | 70 ns ±1% | 0 | 265 ns ±0% | 1.95× | 3.15 µs ±0% | 1.04× | 0 | – | 2 |",
			swap: "| L1 hit, otter instead of ristretto (`-l1-backend otter`) | 101 ns ±1% | 0 | 302 ns ±1% | 2.22× | 3.21 µs ±0% | 1.06× | 0 | – | 2 |"},
		{what: "configs row",
			doc:  "| uniform | L1 (otter)+L2 | 1% | 66,700/s | 14.99 µs | 34 | 1.0% | 100.0% | – | 0.000 | 1 |",
			swap: "| uniform | L1 (otter)+L2 | 1% | 58,000/s | 17.24 µs | 37 | 1.0% | 100.0% | – | 0.000 | 1 |"},
		{what: "ristretto's target",
			doc:  "| `core` L1 hit: 0 allocs/op, ≤ 100 ns/op | 0 allocs/op, 101 ns ±1% | **missed** | ristretto's Get (hashing the key, a time.Now for the TTL check); the same read on the otter L1 takes 70 ns |",
			swap: "| `core` L1 hit: 0 allocs/op, ≤ 100 ns/op | 0 allocs/op, 70 ns ±1% | met |  |"},
		{what: "otter's target",
			doc:  "| `core` L1 hit with `-l1-backend otter` (not the default): 0 allocs/op, ≤ 100 ns/op | 0 allocs/op, 70 ns ±1% | met |  |",
			swap: "| `core` L1 hit with `-l1-backend otter` (not the default): 0 allocs/op, ≤ 100 ns/op | 0 allocs/op, 101 ns ±1% | **missed** | otter's Get, not profiled; ristretto's L1 hit takes 70 ns in the same run |"},
		{what: "targets summary, otter not counted",
			doc:  "1 of the 2 targets measured are met (5 targets not measured); missed: the `core` L1 hit (101 ns, 1.0% over 100 ns). Measured on a configuration other than the default, and not counted: the `core` L1 hit with `-l1-backend otter` is met (0 allocs/op, 70 ns ±1%).",
			swap: "2 of the 2 targets measured are met (5 targets not measured). Measured on a configuration other than the default, and not counted: the `core` L1 hit with `-l1-backend otter` is missed (101 ns, 1.0% over 100 ns)."},
		{what: "L1 hit cost",
			doc:  "With `-l1-backend otter`, an L1 hit costs 70 ns in `core`, 1.44× less than ristretto's 101 ns; called directly, the handler takes 265 ns, 1.14× less than ristretto's 302 ns; over HTTP, a request takes 3.15 µs, about as much as ristretto's 3.21 µs: the 31 ns between them in `core` are lost in the 3.04 µs of a bare request over HTTP.",
			swap: "With `-l1-backend otter`, an L1 hit costs 101 ns in `core`, 1.44× as much as ristretto's 70 ns; called directly, the handler takes 302 ns, 1.14× as much as ristretto's 265 ns; over HTTP, a request takes 3.21 µs, about as much as ristretto's 3.15 µs: the 31 ns between them in `core` are lost in the 3.04 µs of a bare request over HTTP."},
		{what: "requests/s",
			doc:  "otter serves more requests/s than ristretto in 2 of the 8 configurations measured with both (1.15× on uniform at 1% with 100k users; 1.20× on uniform at 1% with 1M users), fewer in 1 (0.88× on zipf1.2 at 1% with 100k users) and as many, within the noise, in 5.",
			swap: "otter serves more requests/s than ristretto in 1 of the 8 configurations measured with both (1.14× on zipf1.2 at 1% with 100k users), fewer in 2 (0.87× on uniform at 1% with 100k users; 0.83× on uniform at 1% with 1M users) and as many, within the noise, in 5."},
		{what: "L1 hit ratio",
			doc:  "Its L1 hit ratio is higher than ristretto's in 1 of the 8 configurations (93.0% against 87.8% on zipf1.2 at 1% with 1M users) and the same, within the noise, in 7.",
			swap: "Its L1 hit ratio is lower than ristretto's in 1 of the 8 configurations (87.8% against 93.0% on zipf1.2 at 1% with 1M users) and the same, within the noise, in 7."},
		{what: "allocations",
			doc:  "It makes fewer allocations per read than ristretto in 2 of the 8 configurations (34 against 37 on uniform at 1% with 100k users; 36 against 39 on uniform at 1% with 1M users) and as many, within the noise, in 6.",
			swap: "It makes more allocations per read than ristretto in 2 of the 8 configurations (37 against 34 on uniform at 1% with 100k users; 39 against 36 on uniform at 1% with 1M users) and as many, within the noise, in 6."},
		{what: "fastest config",
			doc:  "The fastest here is L1 (otter)+L2 with L1 at 10% on zipf1.2: 540,000/s, 1.85 µs per read. At 70 ns per L1 hit (`core`, otter),",
			swap: "The fastest here is L1+L2 with L1 at 10% on zipf1.2: 540,000/s, 1.85 µs per read. At 70 ns per L1 hit (`core`),"},
	} {
		if !strings.Contains(doc, c.doc) {
			t.Errorf("%s: output lacks %q:\n%s", c.what, c.doc, doc)
		}
		if !strings.Contains(swapped, c.swap) {
			t.Errorf("%s: swapped output lacks %q:\n%s", c.what, c.swap, swapped)
		}
		if strings.Contains(swapped, c.doc) {
			t.Errorf("%s: swapped output still says %q", c.what, c.doc)
		}
	}
	// Text that does not depend on the numbers, in both.
	for _, want := range []string{
		"## L1 library: otter or ristretto",
		"ristretto applies a new key's Set asynchronously, so the tier waits for it on every fill, and may still drop it when its buffers are full or reject it at admission; otter applies a Set synchronously",
		"The default stays ristretto because it is the library docs/design.md names; the choice is a flag",
		"except in the rows L1 (otter)+L2",
		"dotted with triangles, the otter L1 with 100k users",
		"Neither library allocates on an L1 hit.",
	} {
		for _, d := range []string{doc, swapped} {
			if !strings.Contains(d, want) {
				t.Errorf("output lacks %q:\n%s", want, d)
			}
		}
	}
	for _, d := range []string{doc, swapped} {
		for _, unwanted := range []string{"hit counter", "%!", "NaN", "Inf", "–×"} {
			if strings.Contains(d, unwanted) {
				t.Errorf("output has %q:\n%s", unwanted, d)
			}
		}
	}
	// The otter rows come right after ristretto's.
	if i, j := strings.Index(doc, "| L1 hit |"), strings.Index(doc, "| L1 hit, otter"); i < 0 || j < i || strings.Contains(doc[i:j], "negative") {
		t.Errorf("the otter L1 hit does not follow the L1 hit:\n%s", doc)
	}
	if i, j := strings.Index(doc, "| zipf1.2 | L1+L2 | 10% |"), strings.Index(doc, "| zipf1.2 | L1 (otter)+L2 | 1% |"); i < 0 || j < i {
		t.Errorf("the otter configs do not follow L1+L2:\n%s", doc)
	}

	// A run without otter says nothing of it.
	none := renderRaw(t, withoutOtter(raw))
	if strings.Contains(strings.ToLower(none), "otter") {
		t.Errorf("a run without otter mentions it:\n%s", none)
	}
	if !strings.Contains(none, "| **missed** | ristretto's Get (hashing the key, a time.Now for the TTL check) |") {
		t.Errorf("a run without otter lacks ristretto's miss cause:\n%s", none)
	}
}

// TestOtterCharts checks that the charts draw otter's series when the run
// has them, and only then.
func TestOtterCharts(t *testing.T) {
	t.Parallel()
	raw := otterRaw(t)
	for _, c := range []struct {
		name  string
		raw   string
		otter bool
	}{
		{"with otter", raw, true},
		{"without otter", withoutOtter(raw), false},
	} {
		r := mustParse(t, c.raw)
		cs := r.configSet()
		labels, _, _, _ := pathsData(r)
		var names []string
		for _, s := range configsSeries(r, cs, "users=100k", "10%") {
			names = append(names, s.name)
		}
		var otterLines []string
		for _, l := range hitRatioLines(r, cs) {
			if l.style == dotted {
				otterLines = append(otterLines, l.name)
			}
		}
		if got := slices.Contains(labels, "L1 hit, otter"); got != c.otter {
			t.Errorf("%s: paths.png rows %q; want otter's: %v", c.name, labels, c.otter)
		}
		if got := slices.Contains(names, "L1 (otter) + L2, L1 10%"); got != c.otter || len(names) != map[bool]int{false: 4, true: 5}[c.otter] {
			t.Errorf("%s: configs.png series %q; want otter's: %v", c.name, names, c.otter)
		}
		if want := []string{"uniform, 100k, otter", "zipf1.2, 100k, otter"}; c.otter && !slices.Equal(otterLines, want) || !c.otter && len(otterLines) > 0 {
			t.Errorf("%s: hit-ratio.png otter lines %q; want them: %v", c.name, otterLines, c.otter)
		}
		for _, ch := range charts(r) {
			if ch.draw == nil {
				t.Errorf("%s: %s not drawn", c.name, ch.file)
				continue
			}
			data, err := ch.png()
			if err != nil {
				t.Fatalf("%s: %s: %v", c.name, ch.file, err)
			}
			img, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("%s: %s: %v", c.name, ch.file, err)
			}
			if b := img.Bounds(); b.Dx() != ch.w || b.Dy() != ch.h {
				t.Errorf("%s: %s: got %d×%d px; want %d×%d", c.name, ch.file, b.Dx(), b.Dy(), ch.w, ch.h)
			}
		}
	}
}

// TestLoopbackTarget judges the HTTP L1 hit over loopback from the
// read-only, closed-model summaries of testdata/loopback: found by their
// fields (the missed fixture's file names say the other label), judged
// only when both are from one run, and counted only when judged.
func TestLoopbackTarget(t *testing.T) {
	t.Parallel()
	const name = "| HTTP L1 hit over loopback, load generator on its own core: ≥ 0.9× bare's requests/s, same run | "
	other := target{name: "other", short: "other", measured: "1", verdict: met}
	for _, c := range []struct {
		dir     string // under testdata; "" for no load tests
		verdict verdict
		row     string
		summary string
	}{
		{"loopback/met", met,
			name + "121,000 req/s vs bare 130,000 req/s = 0.93×, hit ratio 100.0% (`make loadtest-all`: read-only, closed model, 32 VUs, started 2026-11-27T10:00:00Z) | met | " + loadgenBound + " |",
			"2 of the 2 targets measured are met."},
		{"loopback/missed", missed,
			name + "84,811 req/s vs bare 134,581 req/s = 0.63×, hit ratio 96.3% (`make loadtest-all`: read-only, closed model, 32 VUs, started 2026-11-26T04:06:06Z) | **missed** | " +
				"6.7% of the GETs were not L1 hits (3.0% from L2, 3.7% from the store), and each costs more than an L1 hit; " +
				"tiercache and the load generator shared one machine of 2 cores (target http://127.0.0.1:5000); the summaries do not record how each was pinned |",
			"1 of the 2 targets measured are met; missed: the HTTP L1 hit over loopback (0.63× bare's requests/s)."},
		{"loopback/different-runs", unjudged,
			name + "121,000 req/s vs bare 130,000 req/s = 0.93×, hit ratio 100.0% (`make loadtest-all`: read-only, closed model, 32 VUs, started 2026-11-26T04:06:06Z) | – | " +
				"not the same run: tiercache's summary started 2026-11-26T04:06:06Z, bare's 2026-11-27T09:00:00Z, 28h54m apart; rerun `make loadtest-all` |",
			"1 of the 1 targets measured are met; not judged: the HTTP L1 hit over loopback (not the same run)."},
		{"loadtest", unjudged, name + "not measured: run `make loadtest-all` | – |  |", "1 of the 1 targets measured are met."},
		{"", unjudged, name + "not measured: run `make loadtest-all` | – |  |", "1 of the 1 targets measured are met."},
	} {
		var runs []loadRun
		if c.dir != "" {
			var err error
			if runs, err = readLoadRuns(filepath.Join("testdata", c.dir)); err != nil {
				t.Fatal(err)
			}
		}
		tg := loopbackTarget(runs)
		if tg.verdict != c.verdict {
			t.Errorf("%s: got %v; want %v", c.dir, tg.verdict, c.verdict)
		}
		var b strings.Builder
		renderTargets(&b, []target{other, tg})
		for _, want := range []string{c.row, c.summary} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("%s: targets lack %q:\n%s", c.dir, want, b.String())
			}
		}
		if strings.Contains(b.String(), "not measured)") {
			t.Errorf("%s: the loopback target is counted as not measured:\n%s", c.dir, b.String())
		}
	}

	// The row sits after the in-memory HTTP target, as in docs/design.md.
	runs, err := readLoadRuns(filepath.Join("testdata", "loopback", "met"))
	if err != nil {
		t.Fatal(err)
	}
	ts := targets(mustParse(t, raw), nil, "2", runs)
	i := slices.IndexFunc(ts, func(tg target) bool { return tg.short == "the HTTP L1 hit" })
	if i < 0 || i+1 >= len(ts) || ts[i+1].short != "the HTTP L1 hit over loopback" || ts[i+1].verdict != met {
		t.Errorf("the loopback target does not follow the in-memory one, met: %+v", ts)
	}
}

// TestLoopbackCauses checks the causes and caveats of the loopback target
// that the fixtures do not reach.
func TestLoopbackCauses(t *testing.T) {
	t.Parallel()
	base, err := readLoadRuns(filepath.Join("testdata", "loopback", "missed"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what    string
		edit    func(tc, bare *loadRun)
		verdict verdict
		note    string
	}{
		{"every GET an L1 hit", func(tc, _ *loadRun) {
			tc.Cache.L1, tc.Cache.L2, tc.Cache.Miss, tc.Cache.HitRatio = 848132, 0, 0, 1
		}, missed, "every GET was an L1 hit, so the gap is tiercache's own L1 hit path against the bare handler; tiercache and the load generator shared"},
		{"no cache counts", func(tc, _ *loadRun) { tc.Cache = nil }, missed,
			"the summary has no cache counts to tell L1 hits from the other GETs; tiercache"},
		{"not on loopback", func(tc, _ *loadRun) { tc.Target = "http://10.0.0.2:5000" }, missed,
			"and each costs more than an L1 hit"},
		{"exactly 0.9×", func(tc, bare *loadRun) { tc.RPS, bare.RPS = 90_000, 100_000 }, met, loadgenBound},
		{"well above bare", func(tc, bare *loadRun) { tc.RPS, bare.RPS = 150_000, 100_000 }, met, ""},
		{"errors", func(tc, bare *loadRun) { tc.RPS, bare.RPS, tc.Errors, tc.ErrorRate = 95_000, 100_000, 95, 0.0001 }, met,
			"requests/s include failed requests: error rate 0.0% for tiercache, 0.0% for bare"},
		{"an hour apart", func(_, bare *loadRun) { bare.Started = "2026-11-26T05:06:06Z" }, missed, "6.7% of the GETs"},
		{"no start", func(_, bare *loadRun) { bare.Started = "" }, unjudged,
			`cannot tell whether the summaries are from one run: tiercache's started "2026-11-26T04:06:06Z", bare's ""; rerun`},
		{"no bare rate", func(_, bare *loadRun) { bare.RPS = 0 }, unjudged, ""},
	} {
		runs := make([]loadRun, len(base))
		for i, l := range base {
			if l.Cache != nil {
				cache := *l.Cache
				l.Cache = &cache
			}
			runs[i] = l
		}
		tc := &runs[slices.IndexFunc(runs, func(l loadRun) bool { return l.Label == "tiercache" })]
		bare := &runs[slices.IndexFunc(runs, func(l loadRun) bool { return l.Label == "bare" })]
		c.edit(tc, bare)
		tg := loopbackTarget(runs)
		if tg.verdict != c.verdict {
			t.Errorf("%s: got %v; want %v", c.what, tg.verdict, c.verdict)
		}
		if !strings.Contains(tg.note, c.note) || c.note == "" && tg.note != "" {
			t.Errorf("%s: got note %q; want %q in it", c.what, tg.note, c.note)
		}
		if c.what == "not on loopback" && strings.Contains(tg.note, "machine") {
			t.Errorf("%s: got note %q; want no claim about the machine", c.what, tg.note)
		}
		if tg.verdict == missed && (tg.gap == "" || tg.note == "") {
			t.Errorf("%s: missed without gap or cause: %+v", c.what, tg)
		}
	}

	// Of two summaries with the same fields, the later one counts.
	later := base[0]
	later.Started, later.RPS = "2026-11-26T04:09:00Z", 1
	if l, ok := findLoadRun(append(slices.Clone(base), later), "read-only", "closed", base[0].Label); !ok || l.RPS != 1 {
		t.Errorf("got %+v, %v; want the later summary", l, ok)
	}
}

func TestClosedSpread(t *testing.T) {
	run := func(scenario, label string, rps float64, created int64) loadRun {
		l := loadRun{Result: loadtest.Result{Scenario: scenario, Model: "closed", Label: label, RPS: rps, Requests: 1000,
			Status: map[string]int64{"201": created, "200": 1000 - created}}}
		l.LatencyMs.P50 = rps / 1e5
		return l
	}
	runs := []loadRun{
		run("reads", "tiercache", 90_000, 0), run("reads", "bare", 100_000, 0),
		run("writes", "tiercache", 10_000, 1000), run("writes", "bare", 100_000, 1000),
	}
	got := closedSpread(runs)
	for _, want := range []string{"closest to bare on reads (0.90×", "furthest on writes (0.10×", "100.0% of the requests were registrations"} {
		if !strings.Contains(got, want) {
			t.Errorf("closedSpread = %q; want %q in it", got, want)
		}
	}
	runs[0].RPS, runs[2].RPS = 10_000, 90_000 // the scenarios swap places
	got = closedSpread(runs)
	if !strings.Contains(got, "closest to bare on writes") || !strings.Contains(got, "furthest on reads (0.10×)") {
		t.Errorf("after the swap, closedSpread = %q", got)
	}
	if got := closedSpread(runs[:2]); got != "" {
		t.Errorf("one scenario: closedSpread = %q; want no sentence", got)
	}
}

// A run without l2-hit-local, whose reads cost Redis one command, keeps the
// paragraphs on the read paths, and names no DoCache commands.
func TestPathsProseWithoutLocal(t *testing.T) {
	t.Parallel()
	raw := bench("Core/l1-hit", "100 ns/op 0 allocs/op") +
		bench("Core/l2-hit-redis", "50000 ns/op 1 redis-cmds/op") +
		bench("Core/store-memory", "2800 ns/op") +
		bench("Core/store-bolt", "6400 ns/op")
	got := strings.Join(pathsProse(mustParse(t, raw)), "\n")
	for _, want := range []string{"An L1 hit costs 100 ns in `core`", "Without L1, an L2 hit costs"} {
		if !strings.Contains(got, want) {
			t.Errorf("got %q; want %q in it", got, want)
		}
	}
	if strings.Contains(got, "client-side") {
		t.Errorf("got %q; want no client-side cache", got)
	}
	if s := doCacheCmds(mustParse(t, raw).stat("Core/l2-hit-redis", "redis-cmds/op")); s != "" {
		t.Errorf("doCacheCmds at one command = %q; want none", s)
	}
	if s := doCacheCmds(mustParse(t, bench("Core/l2-hit-redis", "50000 ns/op 5 redis-cmds/op")).stat("Core/l2-hit-redis", "redis-cmds/op")); !strings.Contains(s, "CLIENT CACHING") {
		t.Errorf("doCacheCmds at five commands = %q; want the DoCache commands", s)
	}
}
