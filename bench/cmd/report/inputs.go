package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/tiercache/tiercache/bench"
	"github.com/tiercache/tiercache/loadtest"
)

// inputs is everything the report reads from a results directory. Only
// raw.txt and env.txt are required; a nil or empty field is an input that
// the run did not produce, and its section says which make target does.
type inputs struct {
	raw        results
	env        env
	redis      []redisRun
	gains      *loadFile
	proxy      *loadFile
	proxyFlask *loadFile
	instances  *loadFile
	staleness  *staleness
	loads      []loadtest.Result
}

// readInputs reads the results in dir.
func readInputs(dir string) (inputs, error) {
	var in inputs
	f, err := os.Open(filepath.Join(dir, bench.FileRaw))
	if err != nil {
		return in, fmt.Errorf("cannot read results: %w", err)
	}
	defer f.Close()
	if in.raw, err = parseRaw(f); err != nil {
		return in, fmt.Errorf("cannot parse %s: %w", bench.FileRaw, err)
	}
	e, err := os.ReadFile(filepath.Join(dir, bench.FileEnv))
	if err != nil {
		return in, fmt.Errorf("cannot read results: %w", err)
	}
	in.env = parseEnv(string(e))
	rb, _ := os.ReadFile(filepath.Join(dir, bench.FileRedisBenchmark)) // optional
	in.redis = parseRedisBenchmark(string(rb))
	for _, j := range []struct {
		file string
		dst  any
	}{
		{bench.FileGains, &in.gains}, {bench.FileProxy, &in.proxy}, {bench.FileProxyFlask, &in.proxyFlask},
		{bench.FileInstances, &in.instances}, {bench.FileStaleness, &in.staleness},
	} {
		if err := readJSON(filepath.Join(dir, j.file), j.dst); err != nil {
			return in, err
		}
	}
	if in.loads, err = readLoadtests(filepath.Join(dir, bench.DirLoadtest)); err != nil {
		return in, err
	}
	return in, nil
}

// readJSON decodes the file into dst, a pointer to a pointer that stays
// nil when the file does not exist.
func readJSON(path string, dst any) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot read results: %w", err)
	}
	if err := json.Unmarshal(data, dst); err != nil {
		return fmt.Errorf("cannot parse %s: %w", filepath.Base(path), err)
	}
	return nil
}

// A loadFile is what bench/cmd/loadbench writes in every mode: when it
// started, its load generator's settings, and one row per target and
// workload, medians of its rounds.
type loadFile struct {
	Started string `json:"started"`
	Config  struct {
		Connections int     `json:"connections"`
		Threads     int     `json:"threads"`
		Duration    string  `json:"duration"`
		Rounds      int     `json:"rounds"`
		PutPercent  float64 `json:"put_percent"`
		ServerCPU   *int    `json:"server_cpu"`
		LoadCPU     *int    `json:"load_cpu"`
	} `json:"config"`
	Summary   []loadRow  `json:"summary"`
	Staleness []staleRow `json:"staleness"` // -mode instances
}

// A staleRow is, in -mode instances, how long one reader instance answered
// the old value after a write through another, over a workload's samples.
type staleRow struct {
	Workload   string  `json:"workload"`
	Reader     string  `json:"reader"`
	Samples    int     `json:"samples"`
	FreshFirst int     `json:"fresh_at_first_read"`
	P50        float64 `json:"lag_p50_ms"`
	P99        float64 `json:"lag_p99_ms"`
	Max        float64 `json:"lag_max_ms"`
	Timeouts   int     `json:"not_fresh_within_5s"`
}

// A loadRow is one target on one workload. Which fields a mode fills:
// gains VsNoCache; the proxy modes VsBare and VsTiercache; instances
// Instances (its p50 and p99 are the highest of its wrk processes').
type loadRow struct {
	Target        string  `json:"target"`
	Workload      string  `json:"workload"`
	Instances     int     `json:"instances"`
	RPS           float64 `json:"rps_median"`
	P50           float64 `json:"p50_median_ms"`
	P99           float64 `json:"p99_median_ms"`
	PerCPUSecond  float64 `json:"requests_per_target_cpu_second_median"`
	OriginPer1000 float64 `json:"origin_per_1000"`
	Errors        int64   `json:"errors"`
	VsBare        float64 `json:"vs_bare"`
	VsTiercache   float64 `json:"vs_tiercache"`
	VsNoCache     float64 `json:"vs_no_cache"`
}

// row returns the row of target on workload.
func (f *loadFile) row(target, workload string) (loadRow, bool) {
	if f != nil {
		for _, r := range f.Summary {
			if r.Target == target && r.Workload == workload {
				return r, true
			}
		}
	}
	return loadRow{}, false
}

// generator names the load generator of f's rows.
func (f *loadFile) generator() string {
	if f.Config.Connections == 0 {
		return "bench/cmd/loadbench"
	}
	return fmt.Sprintf("wrk -t%d -c%d, %d rounds of %s, medians", f.Config.Threads, f.Config.Connections, f.Config.Rounds, f.Config.Duration)
}

// placement says where the target and the load generator ran.
func (f *loadFile) placement() string {
	c := f.Config
	if c.ServerCPU == nil || c.LoadCPU == nil || *c.ServerCPU < 0 || *c.LoadCPU < 0 {
		return "the target and the load generator not pinned to cores"
	}
	return fmt.Sprintf("the target on CPU %d, the load generator on CPU %d", *c.ServerCPU, *c.LoadCPU)
}

// staleness is loadbench -mode staleness: a PUT through one proxy, GETs
// through another on the same Redis until it answers the new body.
type staleness struct {
	Samples  int     `json:"samples"`
	Fresh    int     `json:"fresh_at_first_get"`
	P50      float64 `json:"p50_ns"`
	P99      float64 `json:"p99_ns"`
	Max      float64 `json:"max_ns"`
	Timeouts int     `json:"timeouts"`
}

// readLoadtests reads the loadtest.Result summaries of dir; a missing dir
// holds none.
func readLoadtests(dir string) ([]loadtest.Result, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var runs []loadtest.Result
	for _, f := range files {
		var r loadtest.Result
		if err := readJSON(f, &r); err != nil {
			return nil, err
		}
		if r.Scenario == "" || r.Label == "" {
			return nil, fmt.Errorf("cannot parse %s: no scenario or label", filepath.Base(f))
		}
		runs = append(runs, r)
	}
	// By scenario and model, tiercache before bare.
	slices.SortStableFunc(runs, func(a, b loadtest.Result) int {
		return cmp.Or(strings.Compare(a.Scenario, b.Scenario), strings.Compare(a.Model, b.Model), cmp.Compare(b.Label, a.Label))
	})
	return runs, nil
}

// results holds every repetition of every benchmark: name (without
// "Benchmark" and the -GOMAXPROCS suffix) → unit → values.
type results map[string]map[string][]float64

// parseRaw reads `go test -bench` output, skipping the other lines.
func parseRaw(r io.Reader) (results, error) {
	res := make(results)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		if res[name] == nil {
			res[name] = make(map[string][]float64)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("line %q: %w", sc.Text(), err)
			}
			res[name][f[i+1]] = append(res[name][f[i+1]], v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(res) == 0 {
		return nil, errors.New("no benchmark results")
	}
	return res, nil
}

// stat is the median of a benchmark's metric, its spread (the largest
// |v-median|/median) and the number of repetitions; n is 0 when the run
// lacks it.
type stat struct {
	median, spread float64
	n              int
}

func (s stat) ok() bool { return s.n > 0 }

func (r results) stat(name, unit string) stat {
	vs := slices.Clone(r[name][unit])
	if len(vs) == 0 {
		return stat{}
	}
	slices.Sort(vs)
	med := (vs[(len(vs)-1)/2] + vs[len(vs)/2]) / 2
	var spread float64
	for _, v := range vs {
		if med != 0 {
			spread = max(spread, math.Abs(v-med)/med)
		}
	}
	return stat{median: med, spread: spread, n: len(vs)}
}

func (r results) ns(name string) stat { return r.stat(name, "ns/op") }

// env is env.txt: its fields in order and the commands of the run.
type env struct {
	fields   [][2]string
	commands []string
	failed   bool
}

func parseEnv(s string) env {
	var e env
	for line := range strings.SplitSeq(s, "\n") {
		k, v, ok := strings.Cut(line, ": ")
		switch {
		case !ok:
		case k == "command":
			e.commands = append(e.commands, v)
		case k == "failed":
			e.failed = true
		default:
			e.fields = append(e.fields, [2]string{k, v})
		}
	}
	return e
}

func (e env) get(k string) string {
	for _, f := range e.fields {
		if f[0] == k {
			return f[1]
		}
	}
	return ""
}

// cores is the machine's core count, GOMAXPROCS in the benchmarks.
func (e env) cores() int {
	n, err := strconv.Atoi(e.get("cores"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// A redisRun is one line of redis-benchmark.txt.
type redisRun struct {
	args string  // "-c 1 -P 32"
	rps  float64 // GETs/s
	p50  float64 // ms
}

// parseRedisBenchmark reads ARGS,"GET","RPS","AVG","MIN","P50",... lines
// (redis-benchmark --csv); other lines are skipped.
func parseRedisBenchmark(s string) []redisRun {
	var runs []redisRun
	for line := range strings.SplitSeq(s, "\n") {
		f := strings.Split(line, ",")
		if strings.HasPrefix(line, "#") || len(f) < 6 {
			continue
		}
		rps, err1 := strconv.ParseFloat(strings.Trim(f[2], `"`), 64)
		p50, err2 := strconv.ParseFloat(strings.Trim(f[5], `"`), 64)
		if err1 == nil && err2 == nil {
			runs = append(runs, redisRun{args: f[0], rps: rps, p50: p50})
		}
	}
	return runs
}
