package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tiercache/tiercache/loadtest"
)

// TestGains runs -mode gains end to end on tiny settings, unpinned, and
// checks what the numbers must show whatever the machine: every row,
// answers that are all 2xx, no cache reading PostgreSQL about once per
// request on uniform reads, and L1+L2 letting through next to nothing on
// Zipf reads.
func TestGains(t *testing.T) {
	t.Chdir("../../..") // loadbench builds ./cmd/tiercache
	out := filepath.Join(t.TempDir(), "gains.json")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	args := []string{"-mode", "gains", "-users", "300", "-rounds", "1", "-duration", "1s", "-connections", "8",
		"-wait-quiet", "0", "-server-cpu", "-1", "-load-cpu", "-1", "-origin-cpu", "-1", "-out", out}
	if err := run(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	t.Logf("%s\n%s", stderr.String(), stdout.String())
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var report struct {
		Config      map[string]any `json:"config"`
		Environment map[string]any `json:"environment"`
		Runs        []gainsRun     `json:"runs"`
		Rows        []gainsRow     `json:"summary"`
	}
	if err := json.Unmarshal(b, &report); err != nil {
		t.Fatal(err)
	}
	if report.Config["users"] != 300.0 || report.Environment["postgres"] == "" || report.Environment["placement"] == nil {
		t.Errorf("config %v, environment %v", report.Config, report.Environment)
	}
	if got, want := len(report.Runs), len(gainsTargets)*len(gainsWorkloads); got != want {
		t.Errorf("%d runs; want %d", got, want)
	}
	for _, r := range report.Runs {
		if r.Non2xx3xx != 0 || r.SocketErrors != 0 || r.StoreErrors != 0 {
			t.Errorf("%s %s: %d non-2xx, %d socket errors, %d store errors", r.Target, r.Workload, r.Non2xx3xx, r.SocketErrors, r.StoreErrors)
		}
	}
	rows := map[string]gainsRow{}
	i := 0
	for _, w := range gainsWorkloads {
		for _, tg := range gainsTargets {
			if i >= len(report.Rows) {
				t.Fatalf("%d rows; want %d", len(report.Rows), len(gainsTargets)*len(gainsWorkloads))
			}
			r := report.Rows[i]
			i++
			if r.Target != tg.name || r.Workload != w {
				t.Errorf("row %d is %s %s; want %s %s", i, r.Target, r.Workload, tg.name, w)
			}
			if r.RPS <= 0 || r.P50 <= 0 || r.P99 < r.P50 || r.Errors != 0 || r.VsNoCache <= 0 {
				t.Errorf("%s %s: %+v", r.Target, r.Workload, r)
			}
			rows[r.Target+"/"+r.Workload] = r
		}
	}
	// No cache still shares a read among concurrent requests for one
	// user (singleflight): with 8 connections over 300 users, few share.
	if r := rows["no cache/uniform"]; r.OriginPer1000 < 900 || r.OriginPer1000 > 1010 || r.VsNoCache != 1 {
		t.Errorf("no cache, uniform: %.1f PostgreSQL reads per 1000 requests, vs no cache %v; want about 1000, 1", r.OriginPer1000, r.VsNoCache)
	}
	// Warmed, L1+L2 lets nothing through; the bound leaves room for a
	// machine so busy that Redis calls miss their 50ms deadline, which
	// sends reads to the store (the runs' l2_errors).
	// bare reads nothing.
	if r := rows["bare/zipf"]; r.OriginPer1000 != 0 {
		t.Errorf("bare, zipf: %.1f PostgreSQL reads per 1000 requests; want 0", r.OriginPer1000)
	}
	noCache := rows["no cache/zipf"].OriginPer1000
	for _, name := range []string{"L1+L2 ristretto", "L1+L2 otter"} {
		if r := rows[name+"/zipf"]; r.OriginPer1000 > 100 || r.OriginPer1000*4 > noCache {
			var l2Errors int64
			for _, run := range report.Runs {
				if run.Target == name {
					l2Errors += run.L2Errors
				}
			}
			t.Errorf("%s, zipf: %.1f PostgreSQL reads per 1000 requests (no cache %.1f), %d L2 errors; want at most 100 and a quarter of no cache's",
				name, r.OriginPer1000, noCache, l2Errors)
		}
	}
	md, err := os.ReadFile(strings.TrimSuffix(out, ".json") + ".md")
	if err != nil {
		t.Fatal(err)
	}
	lines := regexp.MustCompile(`(?m)^\| (no cache|L2 only|L1\+L2 ristretto|L1\+L2 otter|bare) \| (uniform|zipf) \|`).FindAll(md, -1)
	if len(lines) != len(gainsTargets)*len(gainsWorkloads) || !strings.HasPrefix(string(md), "Started ") ||
		!bytes.Contains(md, stdout.Bytes()) {
		t.Errorf("gains.md:\n%s\nstdout:\n%s", md, stdout.String())
	}
}

func TestGainsFlags(t *testing.T) {
	c, err := parseFlags([]string{"-mode", "gains"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.users != 10_000 || c.duration != gainsDuration || c.rounds != 3 || c.out != "bench/results/gains.json" {
		t.Errorf("defaults: users %d, duration %v, rounds %d, out %q", c.users, c.duration, c.rounds, c.out)
	}
	c, err = parseFlags([]string{"-mode", "gains", "-users", "200", "-duration", "2s", "-out", "x.json"}, io.Discard)
	if err != nil || c.users != 200 || c.duration != 2*time.Second || c.out != "x.json" {
		t.Errorf("users %d, duration %v, out %q, %v", c.users, c.duration, c.out, err)
	}
	for _, args := range [][]string{
		{"-mode", "gains", "-users", "0"},
		{"-mode", "gains", "-users", "-5"},
		{"-mode", "gains", "-users", "1000001"},
		{"-mode", "gains", "-users", "many"},
		{"-users", "100"},
		{"-mode", "gains", "-targets", "bare"},
		{"-mode", "gains", "-workloads", "hit"},
		{"-mode", "gains", "-keys", "10"},
		{"-mode", "gains", "-duration", "100ms"},
	} {
		_, err := parseFlags(args, io.Discard)
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error %v; want one line", args, err)
		}
	}
}

// TestGainsScript checks the scripts' requests: the names the user API
// takes, and Zipf draws whose empirical distribution is the sampler's.
func TestGainsScript(t *testing.T) {
	u := loadtest.Users{Prefix: "u", Digits: 6, EmailDomain: "example.com"}
	dir := t.TempDir()
	paths, err := writeGainsScripts(dir, u, 100, 1.1)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range gainsWorkloads {
		b, err := os.ReadFile(paths[w])
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if !strings.Contains(s, `local n, prefix, digits = 100, "u", 6`) || !strings.Contains(s, "request = function()") {
			t.Errorf("%s script:\n%.400s", w, s)
		}
		if w != "zipf" {
			continue
		}
		_, text, _ := strings.Cut(s, "drawsText = [[")
		text, _, _ = strings.Cut(text, "]]")
		counts := make([]int, 100)
		fields := strings.Fields(text)
		for _, f := range fields {
			k, err := strconv.Atoi(f)
			if err != nil || k < 0 || k >= 100 {
				t.Fatalf("draw %q", f)
			}
			counts[k]++
		}
		if len(fields) != zipfDraws {
			t.Errorf("%d draws; want %d", len(fields), zipfDraws)
		}
		sum := 0.0
		for k := range 100 {
			sum += math.Pow(float64(k+1), -1.1)
		}
		for _, k := range []int{0, 1, 9, 99} {
			want := math.Pow(float64(k+1), -1.1) / sum
			if got := float64(counts[k]) / zipfDraws; math.Abs(got-want) > 0.1*want+0.001 {
				t.Errorf("rank %d drawn %.4f of the time; want %.4f", k, got, want)
			}
		}
	}
	if name := u.Name(42); name != "u000042" || !loadtest.ValidName(name) {
		t.Errorf("name %q", name)
	}
}

func TestSummarizeGains(t *testing.T) {
	run := func(target, w string, rps float64, reqs, origin int64) gainsRun {
		r := gainsRun{Target: target, Workload: w, OriginRequests: origin}
		r.RPS, r.Requests, r.P50, r.P99 = rps, reqs, time.Millisecond, 2*time.Millisecond
		return r
	}
	rows := summarizeGains([]gainsRun{
		run("no cache", "zipf", 100, 1000, 1000), run("no cache", "zipf", 300, 3000, 2000), run("no cache", "zipf", 200, 2000, 2000),
		run("L1+L2 otter", "zipf", 4000, 40000, 0), run("L1+L2 otter", "zipf", 2000, 20000, 4),
	})
	if len(rows) != 2 {
		t.Fatalf("rows %+v", rows)
	}
	if r := rows[0]; r.Target != "no cache" || r.RPS != 200 || r.OriginPer1000 != 5000.0/6 || r.VsNoCache != 1 || r.P50 != 1 || r.P99 != 2 {
		t.Errorf("no cache: %+v", r)
	}
	if r := rows[1]; r.Target != "L1+L2 otter" || r.RPS != 3000 || r.OriginPer1000 != 4000.0/60000 || r.VsNoCache != 15 {
		t.Errorf("otter: %+v", r)
	}
}
