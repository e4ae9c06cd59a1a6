package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tiercache/tiercache/internal/launch"
)

// env holds what a run started; close stops it all.
type env struct {
	c         config
	dir       string
	self      string
	originURL string
	stops     []func()
}

func (e *env) close() {
	for _, stop := range slices.Backward(e.stops) {
		stop()
	}
	_ = os.RemoveAll(e.dir)
}

// newEnv makes the run's directory, which the users nginx and varnishd run
// as must reach, and starts the origin.
func newEnv(c config, stderr io.Writer) (*env, error) {
	if c.serverCPU >= 0 || c.loadCPU >= 0 || c.originCPU >= 0 {
		if _, err := exec.LookPath("taskset"); err != nil || runtime.NumCPU() < 2 {
			fmt.Fprintln(stderr, "loadbench: taskset missing or fewer than 2 CPUs: not pinning")
			c.serverCPU, c.loadCPU, c.originCPU = -1, -1, -1
		}
	}
	dir, err := os.MkdirTemp("", "loadbench-")
	if err != nil {
		return nil, err
	}
	e := &env{c: c, dir: dir}
	if err := os.Chmod(dir, 0o755); err != nil {
		e.close()
		return nil, err
	}
	if e.self, err = os.Executable(); err != nil {
		e.close()
		return nil, err
	}
	if e.originURL, _, err = e.startOrigin("origin", c.originCPU); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// originRequests returns how many requests the origin at url has served.
func originRequests(url string) (int64, error) {
	_, _, body, err := get(url+"/_stats", nil)
	if err != nil {
		return 0, err
	}
	var s struct{ Gets, Puts, Others int64 }
	if err := json.Unmarshal(body, &s); err != nil {
		return 0, err
	}
	return s.Gets + s.Puts + s.Others, nil
}

// buildTiercache builds cmd/tiercache into the run's directory.
func (e *env) buildTiercache() (string, error) {
	if _, err := os.Stat("cmd/tiercache"); err != nil {
		return "", errors.New("run loadbench from the repository root: cmd/tiercache not found")
	}
	bin := filepath.Join(e.dir, "tiercache")
	gocmd := cmp.Or(os.Getenv("GO"), "go")
	if out, err := exec.Command(gocmd, "build", "-o", bin, "./cmd/tiercache").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/tiercache: %v: %s", err, out)
	}
	return bin, nil
}

// target is one server under test: its URL, the header that tells a hit,
// the processes to pin and measure.
type target struct {
	name   string
	url    string
	header string
	hit    func(string) bool // nil: no cache
	pids   []int
	stats  string // the origin that serves its misses; "" means the run's
}

// subdir makes a directory of the run's directory.
func (e *env) subdir(name string) (string, error) {
	d := filepath.Join(e.dir, name)
	return d, os.Mkdir(d, 0o755)
}

// startTiercache starts a tiercache proxy on a free port in front of the
// origin, with the Redis at redisURL, on cpu, with more flags.
func (e *env) startTiercache(name, bin, redisURL string, cpu int, flags ...string) (*target, error) {
	port, err := launch.FreePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := append([]string{"proxy", "-origin", e.originURL, "-listen", addr, "-redis", redisURL, "-l1-bytes", "64MiB", "-log-level", "warn"}, flags...)
	p, err := startProc(name, e.dir, cpu, "http://"+addr, "/_tiercache/readyz", bin, args...)
	if err != nil {
		return nil, err
	}
	e.stops = append(e.stops, p.stop)
	return &target{name: name, url: "http://" + addr, header: "Cache-Status", pids: []int{p.cmd.Process.Pid},
		hit: func(v string) bool { return strings.Contains(v, "; hit") }}, nil
}

// startRedis starts a private redis-server on cpu.
func (e *env) startRedis(name string, cpu int) (*launch.Redis, error) {
	d, err := e.subdir(name)
	if err != nil {
		return nil, err
	}
	r, err := launch.StartRedis(d)
	if err != nil {
		return nil, err
	}
	e.stops = append(e.stops, r.Stop)
	return r, pinTree(r.Pid(), cpu)
}

// startTarget starts the named target on -server-cpu.
func (e *env) startTarget(name, tiercacheBin string) (*target, error) {
	cpu := e.c.serverCPU
	switch name {
	case "origin":
		return e.startOriginTarget()
	case "bare":
		port, err := launch.FreePort()
		if err != nil {
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		p, err := startProc("bare", e.dir, cpu, "http://"+addr, "/item/0", e.self, "-mode", "bare", "-listen", addr,
			"-keys", strconv.Itoa(e.c.keys))
		if err != nil {
			return nil, err
		}
		e.stops = append(e.stops, p.stop)
		return &target{name: name, url: "http://" + addr, header: "Cache-Status", pids: []int{p.cmd.Process.Pid},
			hit: func(v string) bool { return strings.Contains(v, "; hit") }}, nil
	case "tiercache":
		r, err := e.startRedis("redis", cpu)
		if err != nil {
			return nil, err
		}
		t, err := e.startTiercache("tiercache", tiercacheBin, r.URL(), cpu, e.c.tiercacheFlags()...)
		if err != nil {
			return nil, err
		}
		t.pids = append(t.pids, r.Pid())
		return t, nil
	case "nginx":
		d, err := e.subdir("nginx")
		if err != nil {
			return nil, err
		}
		n, err := launch.StartNginxCache(d, e.originURL, launch.NginxOptions{WorkerProcesses: 1, DefaultValid: e.c.nginxValid()})
		if err != nil {
			return nil, err
		}
		e.stops = append(e.stops, n.Stop)
		return &target{name: name, url: n.URL(), header: "X-Cache-Status", pids: []int{n.Pid()},
			hit: func(v string) bool { return v == "HIT" }}, pinTree(n.Pid(), cpu)
	case "varnish":
		d, err := e.subdir("varnish")
		if err != nil {
			return nil, err
		}
		v, err := launch.StartVarnish(d, e.originURL, launch.VarnishOptions{Args: slices.Concat(e.c.varnishArgs, e.c.varnishTTLArgs())})
		if err != nil {
			return nil, err
		}
		e.stops = append(e.stops, v.Stop)
		return &target{name: name, url: v.URL(), header: "X-Cache", pids: []int{v.Pid()},
			hit: func(v string) bool { return v == "HIT" }}, pinTree(v.Pid(), cpu)
	}
	return nil, fmt.Errorf("unknown target %q", name)
}

// warm gets every key of the paths prefix+N three times, as tiercache
// keeps a key in L1 from its second read on, and returns how many of the
// last answers were hits.
func warm(t *target, keys int, prefix string) (int, error) {
	hits := 0
	for pass := range 3 {
		for n := range keys {
			url := t.url + prefix + strconv.Itoa(n)
			status, h, _, err := get(url, []byte(t.header))
			if err != nil || status != 200 {
				return 0, fmt.Errorf("%s: GET %s: status %d, %v", t.name, url, status, err)
			}
			if pass == 2 && t.hit(h) {
				hits++
			}
		}
	}
	return hits, nil
}

// runResult is one wrk run of one target.
type runResult struct {
	Target         string  `json:"target"`
	Workload       string  `json:"workload"`
	Round          int     `json:"round"`
	OriginRequests int64   `json:"origin_requests"`
	TargetCPU      float64 `json:"target_cpu_percent"`
	ServerCoreBusy float64 `json:"server_core_busy_percent"`
	LoadCoreBusy   float64 `json:"load_core_busy_percent"`
	Load1          string  `json:"loadavg_before"`
	BusyBefore     float64 `json:"busy_before_percent"`
	wrkResult
}

func bench(ctx context.Context, c config, stdout, stderr io.Writer) error {
	e, err := newEnv(c, stderr)
	if err != nil {
		return err
	}
	defer e.close()
	c = e.c
	scripts, err := writeScripts(e.dir, c)
	if err != nil {
		return err
	}
	var bin string
	if slices.Contains(c.targets, "tiercache") {
		if bin, err = e.buildTiercache(); err != nil {
			return err
		}
	}
	var targets []*target
	warmHits := map[string]int{}
	for _, name := range c.targets {
		t, err := e.startTarget(name, bin)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if t.pids = append(t.pids, descendantsOf(t.pids)...); len(t.pids) == 0 {
			return fmt.Errorf("%s: no pid", name)
		}
		if t.hit == nil {
			targets = append(targets, t)
			continue
		}
		if warmHits[name], err = warm(t, c.keys, c.itemPrefix()); err != nil {
			return err
		}
		if warmHits[name] < c.keys {
			fmt.Fprintf(stderr, "loadbench: %s: only %d of %d keys hit after warming\n", name, warmHits[name], c.keys)
		}
		targets = append(targets, t)
	}

	started := time.Now()
	loadStart := loadavg()
	var runs []runResult
	for _, w := range c.workloads {
		for round := range c.rounds {
			for i := range targets {
				t := targets[(i+round)%len(targets)]
				if err := ctx.Err(); err != nil {
					return err
				}
				r, err := measure(ctx, e, t, w, round, scripts[w])
				if err != nil {
					return fmt.Errorf("%s %s: %w", t.name, w, err)
				}
				fmt.Fprintf(stderr, "%-9s %-5s round %d: %8.0f req/s  p50 %.2fms  p99 %.2fms  origin %d  target cpu %.0f%%  core busy %.0f%%/%.0f%%  busy before %.0f%%\n",
					t.name, w, round+1, r.RPS, ms(r.P50), ms(r.P99), r.OriginRequests, r.TargetCPU, r.ServerCoreBusy, r.LoadCoreBusy, r.BusyBefore)
				runs = append(runs, r)
				time.Sleep(time.Second)
			}
		}
	}
	rows := summarize(runs, c)
	writeMarkdown(stdout, rows, c)
	if c.out == "" {
		return nil
	}
	report := map[string]any{
		"started": started.UTC().Format(time.RFC3339), "loadavg_start": loadStart, "loadavg_end": loadavg(),
		"cpus": runtime.NumCPU(), "kernel": strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")),
		"config": map[string]any{"origin": c.origin, "duration": c.duration.String(), "rounds": c.rounds, "connections": c.connections,
			"threads": c.threads, "keys": c.keys, "put_percent": c.putPercent, "origin_delay": c.originDelay.String(),
			"server_cpu": c.serverCPU, "load_cpu": c.loadCPU, "origin_cpu": c.originCPU, "wait_quiet": c.waitQuiet.String(), "varnish_args": c.varnishArgs},
		"warm_hits": warmHits, "summary": rows, "runs": runs,
	}
	// The same table for BENCHMARKS.md, which bench/cmd/report includes.
	var md strings.Builder
	fmt.Fprintf(&md, "Started %s; load generator `wrk` on CPU %d, the target under test on CPU %d; `make bench`.\n\n",
		started.UTC().Format(time.RFC3339), c.loadCPU, c.serverCPU)
	md.WriteString(originCaption(c))
	writeMarkdown(&md, rows, c)
	return writeReport(c.out, md.String(), report)
}

func descendantsOf(pids []int) []int {
	var out []int
	for _, p := range pids {
		out = append(out, launch.Descendants(p)...)
	}
	return out
}

// measure runs wrk once against t and reads the origin's count and the
// CPU time around it.
func measure(ctx context.Context, e *env, t *target, workload string, round int, script string) (runResult, error) {
	r := runResult{Target: t.name, Workload: workload, Round: round + 1}
	r.BusyBefore = waitQuiet(ctx, e.c.waitQuiet)
	r.Load1 = loadavg()
	stats := cmp.Or(t.stats, e.originURL)
	before, err := originRequests(stats)
	if err != nil {
		return r, err
	}
	cpu0, cores0 := procCPU(t.pids), coreTicks()
	wall := time.Now()
	if r.wrkResult, err = runWrk(ctx, e.c, e.c.loadCPU, script, t.url); err != nil {
		return r, err
	}
	secs := time.Since(wall).Seconds()
	cpu1, cores1 := procCPU(t.pids), coreTicks()
	after, err := originRequests(stats)
	if err != nil {
		return r, err
	}
	r.OriginRequests = after - before
	r.TargetCPU = float64(cpu1-cpu0) / clockTicks / secs * 100
	busy := func(cpu int) float64 {
		if cpu < 0 || cpu >= len(cores0) || cpu >= len(cores1) {
			return 0
		}
		return float64(cores1[cpu]-cores0[cpu]) / clockTicks / secs * 100
	}
	r.ServerCoreBusy, r.LoadCoreBusy = busy(e.c.serverCPU), busy(e.c.loadCPU)
	return r, nil
}

// waitQuiet waits, at most max, for a half second in which the busiest CPU
// is under a tenth busy, and returns that CPU's busy percentage in the last
// half second: what the rest of the machine takes while nothing of this run
// works.
func waitQuiet(ctx context.Context, max time.Duration) float64 {
	deadline := time.Now().Add(max)
	for {
		before := coreTicks()
		time.Sleep(500 * time.Millisecond)
		after := coreTicks()
		busiest := 0.0
		for i := range min(len(before), len(after)) {
			busiest = math.Max(busiest, float64(after[i]-before[i])/clockTicks/0.5*100)
		}
		if busiest < 10 || time.Now().After(deadline) || ctx.Err() != nil {
			return busiest
		}
	}
}

// clockTicks is USER_HZ, the unit of /proc's CPU times.
const clockTicks = 100

// procCPU returns the user and system time of pids, in clock ticks.
func procCPU(pids []int) int64 {
	var total int64
	for _, p := range pids {
		s := readFile("/proc/" + strconv.Itoa(p) + "/stat")
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			sy, _ := strconv.ParseInt(f[12], 10, 64)
			total += u + sy
		}
	}
	return total
}

// coreTicks returns the busy clock ticks of each CPU, from /proc/stat.
func coreTicks() []int64 {
	var out []int64
	for line := range strings.SplitSeq(readFile("/proc/stat"), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		var busy int64
		for j, v := range f[1:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			if j != 3 && j != 4 { // idle, iowait
				busy += n
			}
		}
		out = append(out, busy)
	}
	return out
}

func loadavg() string { return strings.TrimSpace(readFile("/proc/loadavg")) }

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// row is the summary of one target on one workload.
type row struct {
	Target        string  `json:"target"`
	Workload      string  `json:"workload"`
	RPS           float64 `json:"rps_median"`
	P50           float64 `json:"p50_median_ms"`
	P99           float64 `json:"p99_median_ms"`
	PerCPUSecond  float64 `json:"requests_per_target_cpu_second_median"`
	OriginPer1000 float64 `json:"origin_per_1000"`
	Errors        int64   `json:"errors"`
	VsBare        float64 `json:"vs_bare,omitempty"`
	VsTiercache   float64 `json:"vs_tiercache,omitempty"`
}

func summarize(runs []runResult, c config) []row {
	var rows []row
	for _, w := range c.workloads {
		base := map[string]float64{}
		start := len(rows)
		for _, t := range c.targets {
			var rps, perCPU []float64
			var p50, p99 []time.Duration
			var reqs, origin, errs int64
			for _, r := range runs {
				if r.Target == t && r.Workload == w {
					rps, p50, p99 = append(rps, r.RPS), append(p50, r.P50), append(p99, r.P99)
					if r.TargetCPU > 0 {
						perCPU = append(perCPU, r.RPS/(r.TargetCPU/100))
					}
					reqs, origin, errs = reqs+r.Requests, origin+r.OriginRequests, errs+r.Non2xx3xx+r.SocketErrors
				}
			}
			if len(rps) == 0 {
				continue
			}
			x := row{Target: t, Workload: w, RPS: median(rps), P50: ms(median(p50)), P99: ms(median(p99)), Errors: errs}
			if len(perCPU) > 0 {
				x.PerCPUSecond = math.Round(median(perCPU))
			}
			if reqs > 0 {
				x.OriginPer1000 = float64(origin) * 1000 / float64(reqs)
			}
			base[t] = x.RPS
			rows = append(rows, x)
		}
		for i := start; i < len(rows); i++ {
			if b := base["bare"]; b > 0 {
				rows[i].VsBare = rows[i].RPS / b
			}
			if b := base["tiercache"]; b > 0 {
				rows[i].VsTiercache = rows[i].RPS / b
			}
		}
	}
	return rows
}

func ms(d time.Duration) float64 { return math.Round(d.Seconds()*1e5) / 100 }

func median[T int64 | float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func writeMarkdown(w io.Writer, rows []row, c config) {
	fmt.Fprintf(w, "wrk -t%d -c%d, %d rounds of %v per target and workload; mixed = %g%% PUT; medians of rounds\n\n",
		c.threads, c.connections, c.rounds, c.duration, c.putPercent)
	fmt.Fprintln(w, "| target | workload | req/s | p50 | p99 | req per target CPU-s | origin req / 1000 | errors | vs bare | vs tiercache |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
	ratio := func(f float64) string {
		if f == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f×", f)
	}
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %.0f | %.2f ms | %.2f ms | %.0f | %.1f | %d | %s | %s |\n",
			r.Target, r.Workload, r.RPS, r.P50, r.P99, r.PerCPUSecond, r.OriginPer1000, r.Errors, ratio(r.VsBare), ratio(r.VsTiercache))
	}
}
