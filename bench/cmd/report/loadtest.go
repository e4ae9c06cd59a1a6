package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/tiercache/tiercache/loadtest"
)

// loadtestCommand is the command that writes bench/results/loadtest.
const loadtestCommand = "make loadtest-all"

// A loadRun is one file of bench/results/loadtest.
type loadRun struct {
	loadtest.Result
	file string
}

// readLoadRuns reads dir/*.json; a missing dir holds no runs.
func readLoadRuns(dir string) ([]loadRun, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var runs []loadRun
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("cannot read load test: %w", err)
		}
		var run loadRun
		dec := json.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(&run); err != nil {
			return nil, fmt.Errorf("cannot parse %s: %w", f, err)
		}
		if run.Scenario == "" || run.Label == "" {
			return nil, fmt.Errorf("cannot parse %s: no scenario or label", f)
		}
		run.file = filepath.Base(f)
		runs = append(runs, run)
	}
	return runs, nil
}

// findLoadRun returns the run of scenario under model against the server
// label, found by the summaries' fields, not their file names; of several,
// the one that started last (started is RFC 3339 in UTC, so it sorts as
// text).
func findLoadRun(runs []loadRun, scenario, model, label string) (loadRun, bool) {
	var found loadRun
	var ok bool
	for _, l := range runs {
		if l.Scenario == scenario && l.Model == model && l.Label == label && (!ok || l.Started > found.Started) {
			found, ok = l, true
		}
	}
	return found, ok
}

// machine is where a load test ran.
func (l loadRun) machine() string {
	return fmt.Sprintf("%s, %d cores, %s", l.CPU, l.Cores, l.Go)
}

// offered is the load a run was given: its arrival rate, or its VUs.
func (l loadRun) offered() string {
	if l.Model == "open" {
		return perSec(float64(l.Rate))
	}
	return plural(l.VUs, "VU")
}

func ms(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

// labelRank puts tiercache before the bare server.
func labelRank(l string) int {
	switch l {
	case "tiercache":
		return 0
	case "bare":
		return 1
	}
	return 2
}

func (rep report) renderLoadTests(b *strings.Builder) {
	if len(rep.loads) == 0 {
		return
	}
	b.WriteString("## Load tests\n\n")
	fmt.Fprintf(b, "`%s` against the server over loopback, one file per scenario, load model and server in bench/results/loadtest. ", loadtestCommand)
	b.WriteString("open: a fixed arrival rate (requests the generator could not send in time are dropped); closed: a fixed number of virtual users (VUs) that each wait for their answer. ")
	b.WriteString("bare: the baseline server that the same run measured next to tiercache. Latencies in ms.\n\n")

	// One table per machine, in the order of first appearance.
	var machines []string
	for _, l := range rep.loads {
		if !slices.Contains(machines, l.machine()) {
			machines = append(machines, l.machine())
		}
	}
	for _, m := range machines {
		var runs []loadRun
		for _, l := range rep.loads {
			if l.machine() == m {
				runs = append(runs, l)
			}
		}
		slices.SortStableFunc(runs, func(a, b loadRun) int {
			if c := strings.Compare(a.Scenario, b.Scenario); c != 0 {
				return c
			}
			if c := strings.Compare(a.Model, b.Model); c != 0 {
				return c
			}
			return labelRank(a.Label) - labelRank(b.Label)
		})
		if len(machines) > 1 {
			fmt.Fprintf(b, "### %s\n\n", m)
		}
		started := runs[0].Started
		for _, l := range runs {
			started = min(started, l.Started)
		}
		fmt.Fprintf(b, "Run: `%s` on %s, from %s.\n\n", loadtestCommand, m, started)
		renderLoadTable(b, runs)
	}
}

func renderLoadTable(b *strings.Builder, runs []loadRun) {
	t := table{head: []string{"scenario", "model", "server", "offered", "requests/s", "dropped", "p50", "p95", "p99", "max", "error rate", "hit ratio", "thresholds"}}
	var passed int
	var failed []string
	for _, l := range runs {
		hit := "–"
		if l.Cache != nil {
			hit = pctText(l.Cache.HitRatio)
		}
		th := "passed"
		if !l.Passed {
			var miss []string
			for _, t := range l.Thresholds {
				if !t.OK {
					miss = append(miss, fmt.Sprintf("%s %s > %s", t.Name, strconv.FormatFloat(t.Value, 'g', 4, 64), strconv.FormatFloat(t.Limit, 'g', 4, 64)))
				}
			}
			th = "**failed**"
			if len(miss) > 0 {
				th += ": " + strings.Join(miss, ", ")
			}
			failed = append(failed, fmt.Sprintf("%s (%s, %s)", l.Scenario, l.Model, l.Label))
		} else {
			passed++
		}
		t.add(l.Scenario, l.Model, l.Label, l.offered(), perSec(l.RPS), thousands(float64(l.Dropped)),
			ms(l.LatencyMs.P50), ms(l.LatencyMs.P95), ms(l.LatencyMs.P99), ms(l.LatencyMs.Max),
			pctText(l.ErrorRate), hit, th)
	}
	t.write(b)

	// tiercache over bare, per scenario and model.
	rt := table{head: []string{"scenario", "model", "tiercache requests/s", "bare requests/s", "tiercache / bare", "p99 tiercache / bare"}}
	var ratios []float64
	var open bool
	for _, l := range runs {
		if l.Label != "tiercache" {
			continue
		}
		for _, o := range runs {
			if o.Label != "bare" || o.Scenario != l.Scenario || o.Model != l.Model || o.RPS == 0 {
				continue
			}
			v := l.RPS / o.RPS
			ratios = append(ratios, v)
			open = open || l.Model == "open"
			p99 := "–"
			if o.LatencyMs.P99 > 0 {
				p99 = times(l.LatencyMs.P99/o.LatencyMs.P99, true)
			}
			rt.add(l.Scenario, l.Model, perSec(l.RPS), perSec(o.RPS), times(v, true), p99)
		}
	}
	if len(ratios) > 0 {
		rt.write(b)
	}

	var s []string
	sent := fmt.Sprintf("%d of the %s passed their thresholds", passed, plural(len(runs), "run"))
	if len(failed) > 0 {
		sent += "; failed: " + list(failed)
	}
	s = append(s, sent+".")
	if len(ratios) > 0 {
		lo, hi := slices.Min(ratios), slices.Max(ratios)
		sent = fmt.Sprintf("Against the bare server, tiercache served %s its requests/s", x(lo))
		if hi > lo*(1+noise) {
			sent = fmt.Sprintf("Against the bare server, tiercache served %s to %s its requests/s", x(lo), x(hi))
		}
		if open {
			sent += "; under the open model both are offered the same rate, so there a ratio near 1 says only that tiercache kept up, and the latencies tell them apart"
		}
		s = append(s, sent+".")
	}
	if sent := closedSpread(runs); sent != "" {
		s = append(s, sent)
	}
	paragraph(b, s)
}

// closedSpread says where tiercache came closest to bare in the closed
// model, and where furthest, with what the furthest spent its time on:
// registrations (201s) wait for the store's fsync.
func closedSpread(runs []loadRun) string {
	type pair struct{ tc, bare loadRun }
	var ps []pair
	for _, l := range runs {
		if l.Label != "tiercache" || l.Model != "closed" {
			continue
		}
		if o, ok := findLoadRun(runs, l.Scenario, "closed", "bare"); ok && o.RPS > 0 {
			ps = append(ps, pair{l, o})
		}
	}
	if len(ps) < 2 {
		return ""
	}
	ratio := func(p pair) float64 { return p.tc.RPS / p.bare.RPS }
	best := slices.MaxFunc(ps, func(a, b pair) int { return cmp.Compare(ratio(a), ratio(b)) })
	worst := slices.MinFunc(ps, func(a, b pair) int { return cmp.Compare(ratio(a), ratio(b)) })
	sent := fmt.Sprintf("In the closed model, where each client waits for its answer, tiercache comes closest to bare on %s (%s", best.tc.Scenario, x(ratio(best)))
	if best.tc.Cache != nil {
		sent += fmt.Sprintf(", %s of its GETs answered by a cache", pctText(best.tc.Cache.HitRatio))
	}
	sent += fmt.Sprintf(") and is furthest on %s (%s", worst.tc.Scenario, x(ratio(worst)))
	if w := worst.tc; w.Requests > 0 && w.Status["201"] > 0 {
		sent += fmt.Sprintf(", where %s of the requests were registrations, each acknowledged only after the store's fsync: p50 %s ms against bare's %s ms",
			pctText(float64(w.Status["201"])/float64(w.Requests)), ms(w.LatencyMs.P50), ms(worst.bare.LatencyMs.P50))
	}
	return sent + ")."
}
