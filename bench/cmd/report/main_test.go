package main

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tiercache/tiercache/bench"
)

// fixtures is a results directory with every input: a few lines of each
// benchmark family and small JSON files of the loadbench shapes. Its
// numbers are for layout only.
var fixtures = filepath.Join("testdata", "results")

func TestParseRaw(t *testing.T) {
	t.Parallel()
	r, err := parseRaw(strings.NewReader(`goos: linux
BenchmarkCore/l1-hit-2   	 100	 200 ns/op	 1.000 l1-hit-ratio	 0 B/op	 0 allocs/op
BenchmarkCore/l1-hit-2   	 100	 100 ns/op	 1.000 l1-hit-ratio	 0 B/op	 0 allocs/op
BenchmarkCore/l1-hit-2   	 100	 150 ns/op	 1.000 l1-hit-ratio	 0 B/op	 0 allocs/op
BenchmarkTracking/bcast/instances=3-2	 10	 9 ns/op	 2.5 pushes/write
--- FAIL: BenchmarkX
PASS
`))
	if err != nil {
		t.Fatal(err)
	}
	s := r.ns("Core/" + bench.PathL1Hit)
	if s.median != 150 || s.n != 3 || s.spread < 0.33 || s.spread > 0.34 {
		t.Errorf("got %+v; want median 150 of 3, spread 1/3", s)
	}
	if s := r.stat("Tracking/"+bench.TrackingName(bench.TrackingBcast, 3), "pushes/write"); s.median != 2.5 {
		t.Errorf("pushes/write: got %+v; want 2.5", s)
	}
	if s := r.ns("Core/nothing"); s.ok() {
		t.Errorf("a missing benchmark: got %+v; want none", s)
	}
	if _, err := parseRaw(strings.NewReader("PASS\n")); err == nil {
		t.Error("output without results: got no error")
	}
}

func TestParseEnvAndRedisBenchmark(t *testing.T) {
	t.Parallel()
	e := parseEnv("date: 2026-12-03T18:33:48Z\ncores: 4\ncommand: go test -bench X\nfailed: yes\n")
	if e.get("date") != "2026-12-03T18:33:48Z" || e.cores() != 4 || len(e.commands) != 1 || !e.failed {
		t.Errorf("got %+v; want the date, 4 cores, 1 command, failed", e)
	}
	if c := parseEnv("").cores(); c != 1 {
		t.Errorf("cores without the field: got %d; want 1", c)
	}
	runs := parseRedisBenchmark("# comment\n-c 1 -P 32,\"GET\",\"174672.48\",\"0.171\",\"0.024\",\"0.159\",\"0.247\"\nnot installed\n")
	if len(runs) != 1 || runs[0].args != "-c 1 -P 32" || runs[0].rps != 174672.48 || runs[0].p50 != 0.159 {
		t.Errorf("got %+v; want one run of -c 1 -P 32", runs)
	}
}

func TestReadInputs(t *testing.T) {
	t.Parallel()
	in, err := readInputs(fixtures)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := in.gains.row("L1+L2 otter", "zipf"); !ok || r.RPS != 26000 || r.VsNoCache != 13 || r.P99 == 0 || r.OriginPer1000 == 0 {
		t.Errorf("gains: got %+v, %v; want L1+L2 otter on zipf at 26,000/s, 13× no cache", r, ok)
	}
	if r, ok := in.proxyFlask.row("origin", "hit"); !ok || r.RPS != 900 || r.OriginPer1000 != 1000 {
		t.Errorf("proxy-flask: got %+v, %v; want the origin at 900/s", r, ok)
	}
	if r, ok := in.proxy.row("tiercache", "mixed"); !ok || r.VsTiercache != 1 || r.VsBare == 0 {
		t.Errorf("proxy: got %+v, %v; want tiercache with its ratios", r, ok)
	}
	if len(in.instances.Summary) != 4 || in.instances.Summary[1].Instances != 3 || len(in.instances.Staleness) != 2 || in.instances.Staleness[0].P99 != 2.4 {
		t.Errorf("instances: got %+v; want 4 rows, the second of 3 instances, and 2 staleness rows", in.instances)
	}
	if in.staleness == nil || in.staleness.Samples != 300 {
		t.Errorf("staleness: got %+v; want 300 samples", in.staleness)
	}
	if len(in.loads) != 3 || in.loads[0].Scenario != "mixed" || in.loads[0].Label != "tiercache" {
		t.Errorf("load tests: got %d, the first %+v; want 3, tiercache's first", len(in.loads), in.loads[0])
	}
	if in.proxy.generator() != "wrk -t1 -c64, 3 rounds of 10s, medians" {
		t.Errorf("generator: got %q", in.proxy.generator())
	}
}

// writeResults copies the fixtures named into a new results directory.
func writeResults(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(fixtures, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, n)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// sectionText returns the text of the section titled title in doc.
func sectionText(t *testing.T, doc, title string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "## "+title+"\n")
	if !ok {
		t.Fatalf("no section %q", title)
	}
	s, _, _ := strings.Cut(rest, "\n## ")
	return s
}

func TestHeadline(t *testing.T) {
	t.Parallel()
	in, err := readInputs(fixtures)
	if err != nil {
		t.Fatal(err)
	}
	h := sectionText(t, render(in, nil), "What tiercache buys")
	for _, want := range []string{
		"| PostgreSQL, zipf | L1+L2 otter | 26,000/s | 0.12 ms | 0.69 ms | 0.2 | 13× |",
		"| Flask origin, hit | tiercache | 36,000/s |", // the Flask run, not the Go origin's
		"| Flask origin, mixed | varnish | 18,000/s | 1.00 ms | 4.00 ms | 0.0 | 20× |",
		"PostgreSQL on loopback", "Flask origin behind the proxies",
		"13× with L1+L2 otter on PostgreSQL, zipf",
	} {
		if !strings.Contains(h, want) {
			t.Errorf("headline lacks %q:\n%s", want, h)
		}
	}
	if strings.Contains(h, "| bare |") || strings.Contains(h, "not in these results") {
		t.Errorf("headline shows bare or a missing input:\n%s", h)
	}
	// Without the Flask run, the Go origin's; its ratios from its own origin row.
	in.proxyFlask = nil
	h = sectionText(t, render(in, nil), "What tiercache buys")
	if !strings.Contains(h, "| Go origin, hit | tiercache | 54,000/s | 1.00 ms | 4.00 ms | 0.0 | 40× |") || !strings.Contains(h, "`make bench` measures it") {
		t.Errorf("headline without proxy-flask:\n%s", h)
	}
}

func TestMissingInputs(t *testing.T) {
	t.Parallel()
	dir := writeResults(t, bench.FileRaw, bench.FileEnv)
	out := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	charts := filepath.Join(filepath.Dir(out), "charts")
	if err := os.MkdirAll(charts, 0o755); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(charts, "headline.png") // of older results
	if err := os.WriteFile(stale, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-results", dir, "-o", out, "-charts", charts}, nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for title, target := range map[string]string{
		"What tiercache buys":                       makeBench,
		"Several instances":                         makeBenchFull,
		"Load-test scenarios":                       makeBenchFull,
		"tiercache proxy against nginx and Varnish": makeBench,
	} {
		s := sectionText(t, doc, title)
		if target != "" && !strings.Contains(s, "not in these results; `"+target+"` measures it") {
			t.Errorf("section %q does not say that %s measures it:\n%s", title, target, s)
		}
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the chart of older results is still there: %v", err)
	}
	if strings.Contains(doc, "headline.png") {
		t.Error("the document links the headline chart that was not drawn")
	}
	for _, f := range []string{bench.FileGains, bench.FileProxyFlask, bench.FileInstances} {
		if strings.Contains(doc, f) {
			t.Errorf("the document names %s, which is not in the repository", f)
		}
	}
	if _, err := readInputs(t.TempDir()); err == nil {
		t.Error("a directory without raw.txt: got no error")
	}
}

func TestEveryChartIsDrawnAndLinked(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	dir := filepath.Join(filepath.Dir(out), "img")
	if err := run([]string{"-results", fixtures, "-o", out, "-charts", dir}, nil); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	in, err := readInputs(fixtures)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range charts(in) {
		f, err := os.Open(filepath.Join(dir, c.file))
		if err != nil {
			t.Errorf("%s not drawn: %v", c.file, err)
			continue
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil || img.Bounds().Dx() != c.w || img.Bounds().Dy() != c.h {
			t.Errorf("%s: got %v, %v; want a %d×%d PNG", c.file, img.Bounds(), err, c.w, c.h)
		}
		if !strings.Contains(string(doc), "](img/"+c.file+")") {
			t.Errorf("the document does not link %s", c.file)
		}
	}
}

func TestSectionsAndCaptions(t *testing.T) {
	t.Parallel()
	in, err := readInputs(fixtures)
	if err != nil {
		t.Fatal(err)
	}
	doc := render(in, nil)
	for title, wants := range map[string][]string{
		"What does each read path cost?": {"core (2 in flight)", "http (16 in flight)", "L2 hit from Redis, 32 in flight",
			"an L2 read over HTTP (16 in flight, ", "in-process memory map", "bbolt"},
		"How does the hit ratio grow with L1 size?": {"| 0.5% | 0.5% | 0.7% | 49.6% |", "BenchmarkHitRatio: an L1 alone",
			"these lines coincide (within a point at every size): uniform ristretto and uniform otter"},
		"What does keeping L1 coherent cost?":       {"| optin | 3 | 1.50 | 1.00 | 70.00 µs |", "0.18× the 174,672/s of `redis-benchmark -t get -d 80 -c 1 -P 32`"},
		"Several instances":                         {"| 1 | hit | 36,000/s | 1.40 ms | 8.00 ms | 0.0 |", "| 3 | mixed | 14,000/s | 3.30 ms | 25.00 ms | 98.0 |", "| hit | b | 30 | 28 | 0.90 ms | 2.40 ms | 3.10 ms | 0 |"},
		"Load-test scenarios":                       {"| mixed | open | bare | 2,000/s | 2,000/s | 0.08 ms | 0.18 ms | – | passed |", "Go load generator"},
		"Is the server path near the ceiling?":      {"wrk -t1 -c64", "| proxy: tiercache | GET /item/{n}, hits | 54,000/s |", "| user service: bare | GET /user/{name}, Zipf |"},
		"tiercache proxy against nginx and Varnish": {"in 300 of 300 samples"},
	} {
		s := sectionText(t, doc, title)
		for _, w := range wants {
			if !strings.Contains(s, w) {
				t.Errorf("section %q lacks %q:\n%s", title, w, s)
			}
		}
	}
	// Every section is in the header's table, with the run that produces it.
	for _, s := range sections() {
		if !strings.Contains(doc, "| "+s.title+" | `make bench") {
			t.Errorf("the header does not say which run produces %q", s.title)
		}
	}
}

func TestHitRatioFallsBackToConfigs(t *testing.T) {
	t.Parallel()
	r, err := parseRaw(strings.NewReader(
		"BenchmarkConfigs/" + bench.ConfigName(bench.HitRatioUsers, bench.DistZipf12, bench.TiersL1, 1) + "-2 1 5 ns/op 0.81 l1-hit-ratio\n" +
			"BenchmarkConfigs/" + bench.ConfigName(bench.HitRatioUsers, bench.DistZipf12, bench.TiersL1, 10) + "-2 1 5 ns/op 0.92 l1-hit-ratio\n"))
	if err != nil {
		t.Fatal(err)
	}
	points, sweep := hitPoints(r)
	if sweep || len(points) != 2 || points[0].pct != 1 || points[1].ratio.median != 0.92 {
		t.Errorf("got %+v, sweep %v; want the two sizes of BenchmarkConfigs", points, sweep)
	}
}
