// Command report turns the results of `make bench` (bench/results: raw.txt,
// env.txt, redis-benchmark.txt) into the Markdown tables of BENCHMARKS.md,
// so that the file is regenerated, never edited by hand.
//
//	go run ./bench/cmd/report [-results bench/results] [-o BENCHMARKS.md]
//
// Every number is the median of the repetitions (-count) of one benchmark;
// the n column says how many there were, and ± the largest deviation of one
// repetition from the median, in percent. Ratios to the bare handler are
// medians over medians from the same run.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	dir := fs.String("results", "bench/results", "directory written by `make bench`")
	out := fs.String("o", "BENCHMARKS.md", "output file; - for stdout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rawf, err := os.Open(filepath.Join(*dir, "raw.txt"))
	if err != nil {
		return fmt.Errorf("cannot read results: %w", err)
	}
	defer rawf.Close()
	res, err := parseRaw(rawf)
	if err != nil {
		return fmt.Errorf("cannot parse raw.txt: %w", err)
	}
	env, err := os.ReadFile(filepath.Join(*dir, "env.txt"))
	if err != nil {
		return fmt.Errorf("cannot read results: %w", err)
	}
	rb, _ := os.ReadFile(filepath.Join(*dir, "redis-benchmark.txt")) // optional
	doc := render(res, parseEnv(string(env)), string(rb))
	if *out == "-" {
		_, err = io.WriteString(stdout, doc)
		return err
	}
	if err := os.WriteFile(*out, []byte(doc), 0o644); err != nil {
		return fmt.Errorf("cannot write %s: %w", *out, err)
	}
	return nil
}

// results holds every repetition of every benchmark: name (without
// "Benchmark" and the -GOMAXPROCS suffix) → unit → values.
type results map[string]map[string][]float64

// parseRaw reads `go test -bench` output. Lines that are not benchmark
// results are skipped.
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
		m := res[name]
		if m == nil {
			m = make(map[string][]float64)
			res[name] = m
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("line %q: %w", sc.Text(), err)
			}
			m[f[i+1]] = append(m[f[i+1]], v)
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

// stat is the median of a benchmark's metric with its spread.
type stat struct {
	median, spread float64 // spread: largest |v-median|/median
	n              int
	ok             bool
}

func (r results) stat(name, unit string) stat {
	vs := slices.Clone(r[name][unit])
	if len(vs) == 0 {
		return stat{}
	}
	slices.Sort(vs)
	med := (vs[(len(vs)-1)/2] + vs[len(vs)/2]) / 2
	var spread float64
	if med != 0 {
		for _, v := range vs {
			spread = max(spread, math.Abs(v-med)/med)
		}
	}
	return stat{median: med, spread: spread, n: len(vs), ok: true}
}

// env is the parsed env.txt: its fields in order, and the commands.
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

// Formatting of the cells.

func dur(s stat) string {
	if !s.ok {
		return "–"
	}
	ns := s.median
	var v string
	switch {
	case ns >= 1e6:
		v = fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		v = fmt.Sprintf("%.2f µs", ns/1e3)
	default:
		v = fmt.Sprintf("%.0f ns", ns)
	}
	return v + spreadOf(s)
}

func spreadOf(s stat) string {
	if s.n < 2 {
		return ""
	}
	return fmt.Sprintf(" ±%.0f%%", 100*s.spread)
}

func num(s stat, prec int) string {
	if !s.ok {
		return "–"
	}
	return strconv.FormatFloat(s.median, 'f', prec, 64)
}

func rate(s stat) string {
	if !s.ok {
		return "–"
	}
	return fmt.Sprintf("%s/s", thousands(s.median)) + spreadOf(s)
}

func thousands(v float64) string {
	s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func pct(s stat) string {
	if !s.ok {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", 100*s.median)
}

// ratio is the median ns/op of a over b's.
func (r results) ratio(a, b string) (float64, bool) {
	sa, sb := r.stat(a, "ns/op"), r.stat(b, "ns/op")
	if !sa.ok || !sb.ok || sb.median == 0 {
		return 0, false
	}
	return sa.median / sb.median, true
}

func times(v float64, ok bool) string {
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.2f×", v)
}

type table struct {
	head []string
	rows [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(b *strings.Builder) {
	b.WriteString("| " + strings.Join(t.head, " | ") + " |\n|")
	for range t.head {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	b.WriteString("\n")
}

// The scenarios, in the order of the tables, with their descriptions.
var paths = []struct{ name, desc string }{
	{"bare", "**ceiling**: bare fasthttp handler, same bytes as an L1 hit"},
	{"l1-hit", "L1 hit"},
	{"negative-l1", "negative hit (L1)"},
	{"l2-hit-local", "L2 hit from rueidis' client-side cache (no L1)"},
	{"l2-hit-redis", "L2 hit from Redis (no L1, no client-side copy)"},
	{"l2-hit-redis-32g", "the same, 32 concurrent reads on one connection"},
	{"store-memory", "store load, memory store (no tiers)"},
	{"store-bolt", "store load, bbolt (no tiers)"},
}

func render(r results, e env, redisBench string) string {
	var b strings.Builder
	b.WriteString("# Benchmarks\n\n")
	b.WriteString("<!-- Generated by `go run ./bench/cmd/report` from bench/results, written by `make bench`. Do not edit. -->\n\n")
	if e.failed {
		b.WriteString("> **Some benchmarks of this run failed** (see bench/results/raw.txt): their numbers left the path they claim to measure.\n\n")
	}
	b.WriteString("Every number is the median of the repetitions of one benchmark (`n`); ± is the largest deviation of one repetition from it. ")
	b.WriteString("Ratios (×) divide medians of the same run. Reads use `RunParallel`: ns/op is wall time per operation with all goroutines running, not the latency of one.\n\n")
	for _, f := range e.fields {
		fmt.Fprintf(&b, "- %s: %s\n", f[0], f[1])
	}
	b.WriteString("\nCommands:\n\n```\n")
	for _, c := range e.commands {
		b.WriteString(c + "\n")
	}
	b.WriteString("```\n\n")

	renderTargets(&b, r)
	renderPaths(&b, r)
	renderStampede(&b, r)
	renderConfigs(&b, r)
	renderWrites(&b, r)
	if strings.TrimSpace(redisBench) != "" {
		renderRedisBenchmark(&b, redisBench)
	}
	return b.String()
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func renderTargets(b *strings.Builder, r results) {
	b.WriteString("## DESIGN.md targets\n\n")
	t := table{head: []string{"target", "measured", ""}}
	if s, a := r.stat("Core/l1-hit", "ns/op"), r.stat("Core/l1-hit", "allocs/op"); s.ok && a.ok {
		t.add("`core` L1 hit: 0 allocs/op, ≤ 100 ns/op", fmt.Sprintf("%s allocs/op, %s", num(a, 0), dur(s)),
			verdict(a.median == 0 && s.median <= 100))
	}
	if x, ok := r.ratio("HTTP/l1-hit", "HTTP/bare"); ok {
		a := r.stat("HTTP/l1-hit", "allocs/op")
		t.add("HTTP L1 hit, in-memory listener: 0 allocs/op, ≤ 1.15× bare", fmt.Sprintf("%s allocs/op, %s", num(a, 0), times(x, true)),
			verdict(a.median == 0 && x <= 1.15))
	}
	if s := r.stat("Register/tiers=L1+L2/clients=64", "creates/s"); s.ok {
		t.add("register, bbolt, 64 clients: ≥ 10,000/s", rate(s), verdict(s.median >= 10_000))
	}
	if s := r.stat("Core/stampede", "store-loads/op"); s.ok {
		t.add("stampede, 1,000 GETs of one uncached user: 1 store load", num(s, 2)+" loads", verdict(s.median <= 1))
	}
	t.write(b)
}

func renderPaths(b *strings.Builder, r results) {
	b.WriteString("## Read paths\n\n")
	b.WriteString("`core`: `core.Cache.Get`, GOMAXPROCS goroutines. Handler: `server.Handler` called directly. ")
	b.WriteString("HTTP: `GET /user/{name}` end to end, fasthttp HostClient with 8×GOMAXPROCS connections over an in-memory listener; the client's cost is included. ")
	b.WriteString("× bare: ns/op over the bare handler's in the same run. Redis cmds: commands redis-server executed per read.\n\n")
	t := table{head: []string{"path", "core", "allocs", "handler", "× bare", "HTTP", "× bare", "allocs", "Redis cmds", "n"}}
	for _, p := range paths {
		core, handler, http := "Core/"+p.name, "Handler/"+p.name, "HTTP/"+p.name
		_, c := r[core]
		_, h := r[handler]
		_, w := r[http]
		if !c && !h && !w {
			continue
		}
		hx, hok := r.ratio(handler, "Handler/bare")
		wx, wok := r.ratio(http, "HTTP/bare")
		cmds := r.stat(core, "redis-cmds/op")
		if !cmds.ok {
			cmds = r.stat(http, "redis-cmds/op")
		}
		n := max(r.stat(core, "ns/op").n, r.stat(http, "ns/op").n)
		t.add(p.desc, dur(r.stat(core, "ns/op")), num(r.stat(core, "allocs/op"), 0),
			dur(r.stat(handler, "ns/op")), times(hx, hok && p.name != "bare"),
			dur(r.stat(http, "ns/op")), times(wx, wok && p.name != "bare"), num(r.stat(http, "allocs/op"), 0),
			num(cmds, 2), strconv.Itoa(n))
	}
	t.write(b)
}

func renderStampede(b *strings.Builder, r results) {
	const name = "Core/stampede"
	if _, ok := r[name]; !ok {
		return
	}
	b.WriteString("## Stampede\n\n")
	b.WriteString("1,000 goroutines read one user that no tier holds (L1 and L2 on, a store whose reads take 1 ms); one op is one stampede.\n\n")
	t := table{head: []string{"time per stampede", "store loads", "readers that shared a load", "allocs", "n"}}
	t.add(dur(r.stat(name, "ns/op")), num(r.stat(name, "store-loads/op"), 2), num(r.stat(name, "coalesced/op"), 0),
		num(r.stat(name, "allocs/op"), 0), strconv.Itoa(r.stat(name, "ns/op").n))
	t.write(b)
}

func renderConfigs(b *strings.Builder, r results) {
	var users, dists, configs []string
	for name := range r {
		rest, ok := strings.CutPrefix(name, "Configs/")
		if !ok {
			continue
		}
		parts := strings.Split(rest, "/")
		if len(parts) != 4 {
			continue
		}
		if !slices.Contains(users, parts[0]) {
			users = append(users, parts[0])
		}
		if !slices.Contains(dists, parts[1]) {
			dists = append(dists, parts[1])
		}
		if c := parts[2] + "/" + parts[3]; !slices.Contains(configs, c) {
			configs = append(configs, c)
		}
	}
	if len(users) == 0 {
		return
	}
	order := func(list []string, want []string) {
		slices.SortStableFunc(list, func(a, b string) int {
			return index(want, a) - index(want, b)
		})
	}
	order(users, []string{"users=100k", "users=1M"})
	order(dists, []string{"dist=uniform", "dist=zipf1.01", "dist=zipf1.2"})
	order(configs, []string{"tiers=none/l1=0%", "tiers=L1/l1=1%", "tiers=L1/l1=10%", "tiers=L2/l1=0%", "tiers=L1+L2/l1=1%", "tiers=L1+L2/l1=10%"})

	b.WriteString("## Configurations side by side\n\n")
	b.WriteString("The same reads against each set of tiers, 16×GOMAXPROCS concurrent readers, over a memory store. L1 is sized to hold 1% or 10% of the users. ")
	b.WriteString("Hit ratios are per tier, of the reads that reached it; the L2 ratio counts rueidis' local copies and Redis alike, and Redis cmds tells how many reads went to Redis (5 commands each).\n\n")
	for _, u := range users {
		fmt.Fprintf(b, "### %s\n\n", strings.TrimPrefix(u, "users="))
		t := table{head: []string{"workload", "tiers", "L1 size", "requests/s", "ns/op", "allocs", "L1 hit", "L2 hit", "Redis cmds/op", "store loads/op", "n"}}
		for _, d := range dists {
			for _, c := range configs {
				name := "Configs/" + u + "/" + d + "/" + c
				if _, ok := r[name]; !ok {
					continue
				}
				tiers, size, _ := strings.Cut(c, "/")
				t.add(strings.TrimPrefix(d, "dist="), strings.TrimPrefix(tiers, "tiers="), strings.TrimPrefix(size, "l1="),
					rate(r.stat(name, "req/s")), dur(r.stat(name, "ns/op")), num(r.stat(name, "allocs/op"), 0),
					pct(r.stat(name, "l1-hit-ratio")), pct(r.stat(name, "l2-hit-ratio")),
					num(r.stat(name, "redis-cmds/op"), 2), num(r.stat(name, "store-loads/op"), 3),
					strconv.Itoa(r.stat(name, "ns/op").n))
			}
		}
		t.write(b)
	}
}

func index(list []string, s string) int {
	if i := slices.Index(list, s); i >= 0 {
		return i
	}
	return len(list)
}

func renderWrites(b *strings.Builder, r results) {
	b.WriteString("## Writes\n\n")
	b.WriteString("Register: `POST /register` end to end on bbolt with fsync on, each request a new user, exactly that many concurrent clients. ")
	b.WriteString("writes/commit: registrations that shared one fsync (group commit).\n\n")
	t := table{head: []string{"tiers", "clients", "creates/s", "ns/op", "writes/commit", "allocs", "n"}}
	for _, tiers := range []string{"L1+L2", "none"} {
		for _, c := range []string{"1", "8", "64"} {
			name := "Register/tiers=" + tiers + "/clients=" + c
			if _, ok := r[name]; !ok {
				continue
			}
			t.add(tiers, c, rate(r.stat(name, "creates/s")), dur(r.stat(name, "ns/op")), num(r.stat(name, "writes/commit"), 1),
				num(r.stat(name, "allocs/op"), 0), strconv.Itoa(r.stat(name, "ns/op").n))
		}
	}
	t.write(b)
	b.WriteString("Update and delete through `core.Cache`, L1 and L2 on, memory store, 16 goroutines; every write invalidates a key that this process had read. ")
	b.WriteString("update: Update, then Get (read-your-writes, from L2). delete-register: Delete, Get, Create, Get.\n\n")
	t = table{head: []string{"op", "ns/op", "writes/s", "invalidations/op", "Redis cmds/op", "allocs", "n"}}
	for _, op := range []string{"update", "delete-register"} {
		name := "Write/" + op
		if _, ok := r[name]; !ok {
			continue
		}
		t.add(op, dur(r.stat(name, "ns/op")), rate(r.stat(name, "writes/s")), num(r.stat(name, "invalidations/op"), 2),
			num(r.stat(name, "redis-cmds/op"), 1), num(r.stat(name, "allocs/op"), 0), strconv.Itoa(r.stat(name, "ns/op").n))
	}
	t.write(b)
}

// renderRedisBenchmark tabulates redis-benchmark.txt: a comment line, then
// "ARGS,"GET","RPS",...".
func renderRedisBenchmark(b *strings.Builder, s string) {
	b.WriteString("## Baseline: redis-benchmark\n\n")
	t := table{head: []string{"redis-benchmark -t get -d 80", "requests/s", "p50"}}
	for line := range strings.SplitSeq(s, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) < 6 {
			b.WriteString(line + "\n\n")
			return
		}
		rps, err := strconv.ParseFloat(strings.Trim(f[2], `"`), 64)
		if err != nil {
			continue
		}
		t.add("`"+f[0]+"`", thousands(rps)+"/s", strings.Trim(f[5], `"`)+" ms")
	}
	t.write(b)
}
