package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tiercache/tiercache/internal/launch"
	"github.com/tiercache/tiercache/loadtest"
	"github.com/tiercache/tiercache/users"
	"github.com/tiercache/tiercache/users/postgres"
	"golang.org/x/sync/errgroup"
)

// -mode gains measures what tiercache buys in front of a real PostgreSQL:
// the user service (the tiercache binary with -store postgres://…) with
// every read going to PostgreSQL, with L2 only, and with L1 (ristretto or
// otter) in front of L2, under wrk reading users uniformly and by Zipf rank.
//
// Placement: tiercache and its Redis run on -server-cpu; wrk runs on
// -load-cpu and PostgreSQL on -origin-cpu, by default wrk's core, as the
// proxy bench's origin: the origin's work belongs to the workload, and on
// two cores the target must have its core to itself.
//
// Each round starts every target afresh, in an order that rotates, on an
// empty Redis (FLUSHALL), and warms it before measuring: every user read
// warm_passes times (the loadtest read-only scenario's 2: the first read
// loads PostgreSQL and fills L2, the second fills L1). The whole user set
// fits in the default L1, so the warmed state is the steady state a long
// run reaches; the origin counts of the runs show whether it held.
//
// PostgreSQL reads are counted exactly, by the service's
// tiercache_store_loads_total: each is one store Get, one batch (the
// name's advisory lock and the select) in one implicit transaction. No
// cache still coalesces concurrent reads of one user (singleflight), so it
// lets through fewer reads than requests when those overlap, as on Zipf.

// gainsTarget is one configuration of the user service under test, or
// the ceiling.
type gainsTarget struct {
	name  string   // in the table
	slug  string   // in file names
	redis bool     // has L2
	bare  bool     // loadtest/cmd/bare, not tiercache
	args  []string // tiercache flags beyond -listen, -store and -redis
}

var gainsTargets = []gainsTarget{
	{name: "no cache", slug: "nocache", args: []string{"-l1-bytes", "0"}},
	{name: "L2 only", slug: "l2", redis: true, args: []string{"-l1-bytes", "0"}},
	{name: "L1+L2 ristretto", slug: "ristretto", redis: true, args: []string{"-l1-backend", "ristretto"}},
	{name: "L1+L2 otter", slug: "otter", redis: true, args: []string{"-l1-backend", "otter"}},
	// The ceiling of the L1+L2 rows: a fasthttp server with tiercache's
	// settings that writes the bytes of an L1 hit of any seeded user and
	// does nothing else. Its ratio to L1+L2 is the cost of tiercache's own
	// request path, which the hits spend outside the cache.
	{name: "bare", slug: "bare", bare: true},
}

var gainsWorkloads = []string{"uniform", "zipf"}

const (
	// gainsDuration is -duration's default in -mode gains: 4 targets × 2
	// workloads × 3 rounds × 5s is 2 minutes of wrk; with the seeding,
	// each target's start and warm-up (seconds per round with 10,000
	// users) and the 1.5s or more between runs, the mode takes about 4
	// minutes. 3 rounds rather than 2: a median of 2 is their mean.
	gainsDuration = 5 * time.Second
	// gainsScenario is the loadtest scenario whose Zipf exponent, user
	// names and warm passes -mode gains takes, so that its numbers compare
	// with the load tests'.
	gainsScenario = "read-only"
	// zipfDraws is the length of the table of Zipf ranks the wrk script
	// cycles through: enough draws that the empirical distribution is the
	// Zipf one.
	zipfDraws = 1 << 17
	// maxGainsUsers bounds -users: the scenarios' names have 6 digits.
	maxGainsUsers = 1_000_000
	// maxWarmPasses bounds the passes of warmUsers. Passes after the
	// scenario's read the users that still missed, when the service left
	// L2 alone on a fill: a fill whose key was invalidated meanwhile, or a
	// Redis call past its deadline on a busy machine, writes nothing.
	maxWarmPasses = 6
)

// gainsFlags defines the flags of -mode gains.
func gainsFlags(fs *flag.FlagSet, c *config) {
	fs.IntVar(&c.users, "users", 10_000, "-mode gains: users seeded in PostgreSQL and read")
}

// gainsDefaults applies the defaults of -mode gains that differ from the
// bench's and checks its flags, once fs is parsed.
func gainsDefaults(fs *flag.FlagSet, c *config) error {
	if c.mode != "gains" {
		if isSet(fs, "users") {
			return errors.New("-users: only with -mode gains")
		}
		return nil
	}
	if !isSet(fs, "out") {
		c.out = "bench/results/gains.json"
	}
	if !isSet(fs, "duration") {
		c.duration = gainsDuration
	}
	for _, name := range []string{"targets", "workloads", "keys", "put-percent", "origin-delay", "samples", "varnish-params"} {
		if isSet(fs, name) {
			return fmt.Errorf("-%s: not a flag of -mode gains", name)
		}
	}
	if c.users < 1 || c.users > maxGainsUsers {
		return fmt.Errorf("-users %d: want 1 to %d", c.users, maxGainsUsers)
	}
	return nil
}

// gainsRun is one wrk run of one target on one workload.
type gainsRun struct {
	Target         string  `json:"target"`
	Workload       string  `json:"workload"`
	Round          int     `json:"round"`
	OriginRequests int64   `json:"origin_requests"` // PostgreSQL reads: tiercache_store_loads_total's delta
	StoreErrors    int64   `json:"store_errors"`
	L1Hits         int64   `json:"l1_hits"`
	L2Hits         int64   `json:"l2_hits"`
	L2Errors       int64   `json:"l2_errors"`          // Redis calls failed or past -redis-timeout
	TargetCPU      float64 `json:"target_cpu_percent"` // tiercache and its Redis
	RedisCPU       float64 `json:"redis_cpu_percent"`
	PostgresCPU    float64 `json:"postgres_cpu_percent"` // the server and its backends
	ServerCoreBusy float64 `json:"server_core_busy_percent"`
	LoadCoreBusy   float64 `json:"load_core_busy_percent"`
	Load1          string  `json:"loadavg_before"`
	BusyBefore     float64 `json:"busy_before_percent"`
	WarmPasses     int     `json:"warm_passes"`
	WarmHits       int     `json:"warm_hits"` // users whose last warm read hit L1 or L2
	WarmSeconds    float64 `json:"warm_seconds"`
	wrkResult
}

// gainsRow is the summary of one target on one workload.
type gainsRow struct {
	Target        string  `json:"target"`
	Workload      string  `json:"workload"`
	RPS           float64 `json:"rps_median"`
	P50           float64 `json:"p50_median_ms"`
	P99           float64 `json:"p99_median_ms"`
	OriginPer1000 float64 `json:"origin_per_1000"`
	VsNoCache     float64 `json:"vs_no_cache"`
	TargetCPU     float64 `json:"target_cpu_percent_median"`
	PostgresCPU   float64 `json:"postgres_cpu_percent_median"`
	// PerCPUSecond is requests per second of CPU of tiercache, its Redis
	// and PostgreSQL together: what a request costs the serving side,
	// which other load on the machine changes less than requests/s.
	PerCPUSecond float64 `json:"requests_per_cpu_second_median"`
	Errors       int64   `json:"errors"`
}

// gainsEnv is what -mode gains started.
type gainsEnv struct {
	*env
	bin     string
	bareBin string
	pg      *launch.Postgres
	redis   *launch.Redis
	names   []string
	scripts map[string]string
	passes  int
}

func gains(ctx context.Context, c config, stdout, stderr io.Writer) error {
	if c.serverCPU >= 0 || c.loadCPU >= 0 || c.originCPU >= 0 {
		if _, err := exec.LookPath("taskset"); err != nil || runtime.NumCPU() < 2 {
			fmt.Fprintln(stderr, "loadbench: taskset missing or fewer than 2 CPUs: not pinning")
			c.serverCPU, c.loadCPU, c.originCPU = -1, -1, -1
		}
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk not found; install it (Debian: apt-get install wrk) or run make deps")
	}
	f, err := loadtest.Load()
	if err != nil {
		return err
	}
	sc, err := f.Scenario(gainsScenario)
	if err != nil {
		return err
	}
	if sc.Keys.Dist != loadtest.DistZipf {
		return fmt.Errorf("loadtest scenario %s: keys are %s, want zipf", gainsScenario, sc.Keys.Dist)
	}
	dir, err := os.MkdirTemp("", "loadbench-")
	if err != nil {
		return err
	}
	g := &gainsEnv{env: &env{c: c, dir: dir}, passes: max(sc.WarmPasses, 2)}
	defer g.close()
	if err := os.Chmod(dir, 0o755); err != nil { // PostgreSQL's user must reach its directory
		return err
	}
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, "gains: "+format+"\n", args...) }

	progress("building tiercache and bare")
	if g.bin, err = g.buildTiercache(); err != nil {
		return err
	}
	if g.bareBin, err = goBuild(dir, "./loadtest/cmd/bare"); err != nil {
		return err
	}
	pgDir, err := g.subdir("postgres")
	if err != nil {
		return err
	}
	if g.pg, err = launch.StartPostgres(pgDir); err != nil {
		return err
	}
	g.stops = append(g.stops, g.pg.Stop)
	if err := pinTree(g.pg.Pid(), c.originCPU); err != nil { // backends forked later inherit it
		return err
	}
	if g.redis, err = g.startRedis("redis", c.serverCPU); err != nil {
		return err
	}
	g.names = make([]string, c.users)
	for i := range g.names {
		g.names[i] = f.Users.Name(i)
	}
	t0 := time.Now()
	pgVersion, err := seedUsers(ctx, g.pg.URL(), f.Users, g.names)
	if err != nil {
		return err
	}
	progress("PostgreSQL %s on CPU %s: seeded %d users in %v", pgVersion, cpuName(c.originCPU), c.users, time.Since(t0).Round(time.Millisecond))
	if g.scripts, err = writeGainsScripts(g.dir, f.Users, c.users, sc.Keys.S); err != nil {
		return err
	}

	started := time.Now()
	loadStart := loadavg()
	var runs []gainsRun
	for round := range c.rounds {
		for i := range gainsTargets {
			t := gainsTargets[(i+round)%len(gainsTargets)]
			if err := ctx.Err(); err != nil {
				return err
			}
			rs, err := g.runTarget(ctx, t, round, progress)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			runs = append(runs, rs...)
		}
	}
	rows := summarizeGains(runs)
	head := fmt.Sprintf("Started %s; wrk -t%d -c%d on CPU %s, with the origin, PostgreSQL %s, on CPU %s; tiercache (user service, -store postgres) and its Redis on CPU %s; %d users, Zipf s=%g; %d × %v per target and workload, medians; `make bin/loadbench && bin/loadbench -mode gains`.\n\n",
		started.UTC().Format(time.RFC3339), c.threads, c.connections, cpuName(c.loadCPU), pgVersion, cpuName(c.originCPU),
		cpuName(c.serverCPU), c.users, sc.Keys.S, c.rounds, c.duration)
	var table strings.Builder
	table.WriteString(head)
	writeGainsMarkdown(&table, rows)
	fmt.Fprint(stdout, table.String())
	if c.out == "" {
		return nil
	}
	return writeReport(c.out, table.String(), map[string]any{
		"config": map[string]any{"mode": "gains", "duration": c.duration.String(), "rounds": c.rounds,
			"connections": c.connections, "threads": c.threads, "users": c.users, "zipf_s": sc.Keys.S,
			"zipf_draws": zipfDraws, "warm_passes": g.passes, "server_cpu": c.serverCPU, "load_cpu": c.loadCPU,
			"postgres_cpu": c.originCPU, "wait_quiet": c.waitQuiet.String()},
		"environment": g.environment(started, loadStart, pgVersion),
		"started":     started.UTC().Format(time.RFC3339),
		"runs":        runs,
		"summary":     rows,
	})
}

// environment describes the machine and the programs of the run.
func (g *gainsEnv) environment(started time.Time, loadStart, pgVersion string) map[string]any {
	redisVersion := ""
	if info, err := g.redis.Do("INFO", "server"); err == nil {
		for line := range strings.SplitSeq(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
				redisVersion = v
			}
		}
	}
	wrkVersion, _ := exec.Command("wrk", "-v").Output() // exits 1 after printing its version
	c := g.c
	return map[string]any{"started": started.UTC().Format(time.RFC3339), "loadavg_start": loadStart,
		"loadavg_end": loadavg(), "cpus": runtime.NumCPU(), "go": runtime.Version(),
		"kernel": strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")), "postgres": pgVersion,
		"redis": redisVersion, "wrk": strings.TrimSpace(strings.SplitN(string(wrkVersion), "\n", 2)[0]),
		"placement": map[string]string{"tiercache": cpuName(c.serverCPU), "redis": cpuName(c.serverCPU),
			"wrk": cpuName(c.loadCPU), "postgres": cpuName(c.originCPU)}}
}

func cpuName(cpu int) string {
	if cpu < 0 {
		return "any"
	}
	return strconv.Itoa(cpu)
}

// seedUsers creates the users names in the database at url through the
// store the service uses, and returns the server's version. It then
// vacuums, analyzes and checkpoints, so that none of that lands in a
// measured run.
func seedUsers(ctx context.Context, url string, u loadtest.Users, names []string) (string, error) {
	// Without synchronous commit: the seed need not survive a crash, and a
	// flush per user would make seeding the longest phase.
	s, err := postgres.Open(ctx, url+"&pool_max_conns=8&synchronous_commit=off", postgres.Config{})
	if err != nil {
		return "", err
	}
	var next atomic.Int64
	eg, ectx := errgroup.WithContext(ctx)
	for range 8 {
		eg.Go(func() error {
			for i := next.Add(1) - 1; i < int64(len(names)); i = next.Add(1) - 1 {
				name := names[i]
				if _, err := s.Create(ectx, users.User{Name: name, Email: u.Email(name)}); err != nil {
					return fmt.Errorf("cannot seed %s: %w", name, err)
				}
			}
			return nil
		})
	}
	err = eg.Wait()
	_ = s.Close()
	if err != nil {
		return "", err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", fmt.Errorf("cannot connect to postgres: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, q := range []string{"VACUUM ANALYZE", "CHECKPOINT"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return "", fmt.Errorf("postgres: %s: %w", q, err)
		}
	}
	var version string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		return "", fmt.Errorf("postgres: cannot read its version: %w", err)
	}
	return version, nil
}

// gainsScript is the Lua script of a workload: GETs of /user/<name>, the
// user's index drawn uniformly in Lua or, for Zipf, taken in turn from
// draws, ranks drawn in Go from the loadtest sampler.
func gainsScript(u loadtest.Users, n int, draws []int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `local n, prefix, digits = %d, %q, %d
local reqs, draws, i = {}, {}, 0
-- wrk.format needs the URL's Host, which init has and the top level not.
init = function(args)
  local fmtName = "%%s%%0" .. digits .. "d"
  for k = 0, n - 1 do
    reqs[k] = wrk.format("GET", "/user/" .. string.format(fmtName, prefix, k))
  end
  for v in string.gmatch(drawsText, "%%d+") do
    draws[#draws + 1] = tonumber(v)
  end
  math.randomseed(1)
end
`, n, u.Prefix, u.Digits)
	if len(draws) == 0 {
		b.WriteString(`drawsText = ""
request = function()
  return reqs[math.random(0, n - 1)]
end
`)
		return b.String()
	}
	b.WriteString("drawsText = [[")
	for j, d := range draws {
		if j%32 == 0 {
			b.WriteByte('\n')
		} else {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(d))
	}
	b.WriteString(`
]]
request = function()
  i = i % #draws + 1
  return reqs[draws[i]]
end
`)
	return b.String()
}

// writeGainsScripts writes the scripts of the uniform and zipf workloads in
// dir and returns their paths.
func writeGainsScripts(dir string, u loadtest.Users, n int, s float64) (map[string]string, error) {
	sampler, err := loadtest.NewSampler(loadtest.Keys{Dist: loadtest.DistZipf, N: n, S: s})
	if err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(1, 2))
	draws := make([]int, zipfDraws)
	for i := range draws {
		draws[i] = sampler.Next(r)
	}
	paths := map[string]string{}
	for w, d := range map[string][]int{"uniform": nil, "zipf": draws} {
		p := filepath.Join(dir, "gains-"+w+".lua")
		if err := os.WriteFile(p, []byte(gainsScript(u, n, d)), 0o644); err != nil {
			return nil, err
		}
		paths[w] = p
	}
	return paths, nil
}

// runTarget starts t on an empty Redis, warms it, runs every workload
// against it and stops it.
func (g *gainsEnv) runTarget(ctx context.Context, t gainsTarget, round int, progress func(string, ...any)) ([]gainsRun, error) {
	redisURL := "off"
	if t.redis {
		if _, err := g.redis.Do("FLUSHALL"); err != nil {
			return nil, fmt.Errorf("redis FLUSHALL: %w", err)
		}
		redisURL = g.redis.URL()
	}
	port, err := launch.FreePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	base := "http://" + addr
	bin, args, ready := g.bin, append([]string{"-listen", addr, "-store", g.pg.URL(), "-redis", redisURL, "-log-level", "warn"}, t.args...), "/readyz"
	if t.bare {
		bin, args, ready = g.bareBin, []string{"-listen", addr}, "/user/"+g.names[0]
	}
	name := "tiercache-" + t.slug
	if t.bare {
		name = "bare"
	}
	p, err := startProc(fmt.Sprintf("%s-%d", name, round+1), g.dir, g.c.serverCPU, base, ready, bin, args...)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	pids := []int{p.cmd.Process.Pid}
	if t.redis {
		pids = append(pids, g.redis.Pid())
	}
	var passes, hits int
	var warmSecs float64
	if !t.bare { // bare has nothing to warm
		t0 := time.Now()
		if passes, hits, err = warmUsers(ctx, base, g.names, g.passes, t.redis); err != nil {
			return nil, fmt.Errorf("%w%s", err, logTail(g.dir, p))
		}
		warmSecs = time.Since(t0).Seconds()
		progress("%-15s round %d: warmed in %.1fs, %d passes, %d of %d users hit at their last read", t.name, round+1, warmSecs, passes, hits, len(g.names))
	}
	var runs []gainsRun
	for _, w := range gainsWorkloads {
		r, err := g.measure(ctx, t, base, pids, w, round)
		if err != nil {
			return nil, fmt.Errorf("%s: %w%s", w, err, logTail(g.dir, p))
		}
		r.WarmPasses, r.WarmHits, r.WarmSeconds = passes, hits, warmSecs
		progress("%-15s %-7s round %d: %8.0f req/s  p50 %.2fms  p99 %.2fms  origin %d  non-2xx %d  tiercache+redis cpu %.0f%%  postgres cpu %.0f%%  busy before %.0f%%",
			t.name, w, round+1, r.RPS, ms(r.P50), ms(r.P99), r.OriginRequests, r.Non2xx3xx+r.SocketErrors, r.TargetCPU, r.PostgresCPU, r.BusyBefore)
		runs = append(runs, r)
		time.Sleep(time.Second)
	}
	return runs, nil
}

// warmUsers reads every user passes times, one pass after the other,
// with 16 readers. A cached target (hitsAll) should then answer every user
// from L1 or L2; it reads again, up to maxWarmPasses in all, the users whose
// last answer was no hit. It returns the passes made and how many users
// hit at their last read.
func warmUsers(ctx context.Context, base string, names []string, passes int, hitsAll bool) (int, int, error) {
	todo := names
	for pass := 1; ; pass++ {
		missed, err := warmPass(ctx, base, todo)
		if err != nil {
			return pass, 0, err
		}
		if pass < passes {
			continue
		}
		if !hitsAll || len(missed) == 0 || pass == maxWarmPasses {
			return pass, len(names) - len(missed), nil
		}
		todo = missed
	}
}

// warmPass reads names with 16 readers and returns those not answered
// from a cache.
func warmPass(ctx context.Context, base string, names []string) ([]string, error) {
	var next atomic.Int64
	var mu sync.Mutex
	var missed []string
	eg, ectx := errgroup.WithContext(ctx)
	for range 16 {
		eg.Go(func() error {
			for i := next.Add(1) - 1; i < int64(len(names)); i = next.Add(1) - 1 {
				if err := ectx.Err(); err != nil {
					return err
				}
				url := base + "/user/" + names[i]
				status, cs, _, err := get(url, []byte("Cache-Status"))
				// A busy machine can make a read miss the store's deadline
				// (503): warming only fills, so try again.
				for try := 1; (err != nil || status != 200) && try < 3; try++ {
					time.Sleep(100 * time.Millisecond)
					status, cs, _, err = get(url, []byte("Cache-Status"))
				}
				if err != nil || status != 200 {
					return fmt.Errorf("warm: GET %s: status %d, %v", url, status, err)
				}
				if !strings.Contains(cs, "; hit") {
					mu.Lock()
					missed = append(missed, names[i])
					mu.Unlock()
				}
			}
			return nil
		})
	}
	return missed, eg.Wait()
}

// logTail returns the last lines of the log of p, started in dir, to
// explain its failure.
func logTail(dir string, p *proc) string {
	b, err := os.ReadFile(filepath.Join(dir, p.name+".log"))
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return "; " + p.name + "'s log ends:\n" + strings.Join(lines[max(0, len(lines)-15):], "\n")
}

// serviceStats is what the runs read from the user service's /metrics.
type serviceStats struct{ storeLoads, storeErrors, l1Hits, l2Hits, l2Errors int64 }

func readServiceStats(base string) (serviceStats, error) {
	status, _, body, err := get(base+"/metrics", nil)
	if err != nil || status != 200 {
		return serviceStats{}, fmt.Errorf("GET /metrics: status %d, %v", status, err)
	}
	var s serviceStats
	fields := map[string]*int64{
		"tiercache_store_loads_total":            &s.storeLoads,
		"tiercache_store_errors_total":           &s.storeErrors,
		`tiercache_l1_reads_total{result="hit"}`: &s.l1Hits,
		`tiercache_l2_reads_total{result="hit"}`: &s.l2Hits,
		"tiercache_l2_errors_total":              &s.l2Errors,
	}
	seen := 0
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if p := fields[name]; ok && p != nil {
			if *p, err = strconv.ParseInt(value, 10, 64); err != nil {
				return s, fmt.Errorf("/metrics: %s: %w", name, err)
			}
			seen++
		}
	}
	if seen != len(fields) {
		return s, fmt.Errorf("/metrics: %d of the %d samples read", seen, len(fields))
	}
	return s, nil
}

// measure runs wrk once against the service at base and reads its
// counters and the CPU time of it (pids) and of PostgreSQL around it.
func (g *gainsEnv) measure(ctx context.Context, t gainsTarget, base string, pids []int, workload string, round int) (gainsRun, error) {
	c := g.c
	r := gainsRun{Target: t.name, Workload: workload, Round: round + 1}
	stats := readServiceStats
	if t.bare { // no counters: it reads no store and no cache
		stats = func(string) (serviceStats, error) { return serviceStats{}, nil }
	}
	r.BusyBefore = waitQuiet(ctx, c.waitQuiet)
	r.Load1 = loadavg()
	pgPids := func() []int { return append([]int{g.pg.Pid()}, launch.Descendants(g.pg.Pid())...) }
	before, err := stats(base)
	if err != nil {
		return r, err
	}
	pg0, redis0 := pgPids(), []int{g.redis.Pid()}
	cpu0, pgCPU0, redisCPU0, cores0 := procCPU(pids), procCPU(pg0), procCPU(redis0), coreTicks()
	wall := time.Now()
	if r.wrkResult, err = runWrk(ctx, c, c.loadCPU, g.scripts[workload], base); err != nil {
		return r, err
	}
	secs := time.Since(wall).Seconds()
	cpu1, pgCPU1, redisCPU1, cores1 := procCPU(pids), procCPU(pgPids()), procCPU(redis0), coreTicks()
	after, err := stats(base)
	if err != nil {
		return r, err
	}
	r.OriginRequests, r.StoreErrors = after.storeLoads-before.storeLoads, after.storeErrors-before.storeErrors
	r.L1Hits, r.L2Hits = after.l1Hits-before.l1Hits, after.l2Hits-before.l2Hits
	r.L2Errors = after.l2Errors - before.l2Errors
	pct := func(ticks int64) float64 { return float64(ticks) / clockTicks / secs * 100 }
	r.TargetCPU, r.PostgresCPU = pct(cpu1-cpu0), pct(pgCPU1-pgCPU0)
	if len(pids) > 1 {
		r.RedisCPU = pct(redisCPU1 - redisCPU0)
	}
	busy := func(cpu int) float64 {
		if cpu < 0 || cpu >= len(cores0) || cpu >= len(cores1) {
			return 0
		}
		return pct(cores1[cpu] - cores0[cpu])
	}
	r.ServerCoreBusy, r.LoadCoreBusy = busy(c.serverCPU), busy(c.loadCPU)
	return r, nil
}

// summarizeGains gives the medians over rounds of each target and
// workload, and the ratio of each target's requests/s to no cache's.
func summarizeGains(runs []gainsRun) []gainsRow {
	var rows []gainsRow
	for _, w := range gainsWorkloads {
		start := len(rows)
		for _, t := range gainsTargets {
			var rps, targetCPU, pgCPU, perCPU []float64
			var p50, p99 []time.Duration
			var reqs, origin, errs int64
			for _, r := range runs {
				if r.Target == t.name && r.Workload == w {
					rps, p50, p99 = append(rps, r.RPS), append(p50, r.P50), append(p99, r.P99)
					targetCPU, pgCPU = append(targetCPU, r.TargetCPU), append(pgCPU, r.PostgresCPU)
					if cpu := r.TargetCPU + r.PostgresCPU; cpu > 0 {
						perCPU = append(perCPU, r.RPS/(cpu/100))
					}
					reqs, origin = reqs+r.Requests, origin+r.OriginRequests
					errs += r.Non2xx3xx + r.SocketErrors + r.StoreErrors
				}
			}
			if len(rps) == 0 {
				continue
			}
			x := gainsRow{Target: t.name, Workload: w, RPS: median(rps), P50: ms(median(p50)), P99: ms(median(p99)),
				TargetCPU: median(targetCPU), PostgresCPU: median(pgCPU), Errors: errs}
			if reqs > 0 {
				x.OriginPer1000 = float64(origin) * 1000 / float64(reqs)
			}
			if len(perCPU) > 0 {
				x.PerCPUSecond = math.Round(median(perCPU))
			}
			rows = append(rows, x)
		}
		if start < len(rows) && rows[start].Target == gainsTargets[0].name && rows[start].RPS > 0 {
			for i := start; i < len(rows); i++ {
				rows[i].VsNoCache = rows[i].RPS / rows[start].RPS
			}
		}
	}
	return rows
}

func writeGainsMarkdown(w io.Writer, rows []gainsRow) {
	fmt.Fprintln(w, "| target | workload | req/s | p50 | p99 | PostgreSQL reads / 1000 req | vs no cache | tiercache+Redis CPU | PostgreSQL CPU | req per CPU-s | errors |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %.0f | %.2f ms | %.2f ms | %.1f | %.2f× | %.0f%% | %.0f%% | %.0f | %d |\n",
			r.Target, r.Workload, r.RPS, r.P50, r.P99, r.OriginPer1000, r.VsNoCache, r.TargetCPU, r.PostgresCPU, r.PerCPUSecond, r.Errors)
	}
}
