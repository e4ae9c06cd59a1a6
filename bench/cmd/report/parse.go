package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

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
	max            float64
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
	return stat{median: med, spread: spread, max: vs[len(vs)-1], n: len(vs), ok: true}
}

// ns is the median ns/op of a benchmark.
func (r results) ns(name string) stat { return r.stat(name, "ns/op") }

// has reports whether the run has results of the benchmark.
func (r results) has(name string) bool {
	_, ok := r[name]
	return ok
}

// ratio is the median ns/op of a over b's.
func (r results) ratio(a, b string) (float64, bool) {
	sa, sb := r.ns(a), r.ns(b)
	if !sa.ok || !sb.ok || sb.median == 0 {
		return 0, false
	}
	return sa.median / sb.median, true
}

// perSecond is the throughput of a RunParallel benchmark: ns/op is the wall
// time per operation with all goroutines running.
func perSecond(ns stat) stat {
	if !ns.ok || ns.median == 0 {
		return stat{}
	}
	return stat{median: 1e9 / ns.median, spread: ns.spread, n: ns.n, ok: true}
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

// get returns the value of the field k, or "".
func (e env) get(k string) string {
	for _, f := range e.fields {
		if f[0] == k {
			return f[1]
		}
	}
	return ""
}

// goVersion is "go1.26.8" out of "go version go1.26.8 linux/amd64".
func (e env) goVersion() string {
	v := e.get("go")
	if f := strings.Fields(v); len(f) >= 3 && f[0] == "go" && f[1] == "version" {
		return f[2]
	}
	return v
}

// command returns the `go test` command whose -bench pattern selects
// Benchmark+family, or the first command that starts with prefix when
// family is "".
func (e env) command(family, prefix string) string {
	for _, c := range e.commands {
		if family == "" {
			if strings.HasPrefix(c, prefix) {
				return c
			}
			continue
		}
		f := strings.Fields(c)
		for i := 0; i+1 < len(f); i++ {
			if f[i] != "-bench" {
				continue
			}
			if re, err := regexp.Compile(f[i+1]); err == nil && re.MatchString("Benchmark"+family) {
				return c
			}
		}
	}
	return ""
}

// A redisRun is one line of redis-benchmark.txt: the arguments that vary,
// with the connections and pipeline depth they set.
type redisRun struct {
	args            string
	conns, pipeline int
	rps, p50        float64 // requests/s; p50 in ms
}

// parseRedisBenchmark reads redis-benchmark.txt: comment lines, then
// ARGS,"GET","RPS","AVG","MIN","P50",... lines (redis-benchmark --csv). It
// returns the runs, and the text of the file when it holds none (the note
// that redis-benchmark was not installed).
func parseRedisBenchmark(s string) ([]redisRun, string) {
	var runs []redisRun
	var other []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) < 6 {
			other = append(other, line)
			continue
		}
		rps, err1 := strconv.ParseFloat(strings.Trim(f[2], `"`), 64)
		p50, err2 := strconv.ParseFloat(strings.Trim(f[5], `"`), 64)
		if err1 != nil || err2 != nil {
			other = append(other, line)
			continue
		}
		run := redisRun{args: f[0], conns: 1, pipeline: 1, rps: rps, p50: p50}
		a := strings.Fields(f[0])
		for i := 0; i+1 < len(a); i++ {
			n, err := strconv.Atoi(a[i+1])
			if err != nil {
				continue
			}
			switch a[i] {
			case "-c":
				run.conns = n
			case "-P":
				run.pipeline = n
			}
		}
		runs = append(runs, run)
	}
	if len(runs) > 0 {
		return runs, ""
	}
	return nil, strings.Join(other, "\n")
}

// redisBaseline returns the run with that many connections and pipeline
// depth.
func redisBaseline(runs []redisRun, conns, pipeline int) (redisRun, bool) {
	for _, r := range runs {
		if r.conns == conns && r.pipeline == pipeline {
			return r, true
		}
	}
	return redisRun{}, false
}
