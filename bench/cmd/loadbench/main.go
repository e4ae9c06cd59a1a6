// Command loadbench is the load runner of BENCHMARKS.md. It measures tiercache proxy against a bare fasthttp
// server, nginx proxy_cache and Varnish, all in front of one origin, in one
// run: wrk drives each in alternating rounds, on a hit-heavy workload over
// the origin's keys and on a mixed one with PUTs, and the command prints the
// medians and writes them, with every round, to -out.
//
// With -mode staleness it measures instead how long after a PUT through one
// tiercache proxy a second proxy on the same Redis still serves the old
// answer.
//
// With -origin flask the origin is the user API of the Flask service
// tiercache succeeds (bench/origins/flask), and -mode instances drives one
// and three tiercache proxies on one Redis (flask.go, instances.go).
//
// With -mode scenarios (make loadtest-all) it runs the scenarios of
// loadtest/scenarios.json with loadgen against the tiercache user service
// and then against the bare ceiling server, and writes loadgen's summaries
// to bench/results/loadtest; with -mode stack (make stack) it serves a
// redis-server and tiercache in the foreground until Ctrl-C. See
// runScenarios and runStack. Exit status: 0, 1 when a threshold failed
// (-mode scenarios), 2 when the run could not be carried out, 130 when
// interrupted.
//
// With -mode gains it measures the user service in front of a real
// PostgreSQL instead: no cache, L2 only, and L1+L2 (ristretto, otter), on
// uniform and Zipf reads of -users seeded users, into bench/results/gains.json
// (see gains.go).
//
// Placement on two cores: the target under test (with its Redis, for
// tiercache) runs on -server-cpu, wrk on -load-cpu. The origin is a separate
// process on -origin-cpu, by default wrk's core: the origin's work belongs
// to the workload, not to the target, so it must not take the target's
// core; it is idle in the hit workload. Run it from the repository root
// (make bench-proxy).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(exitCode(err))
	}
}

// Targets and workloads, in the order of the tables.
var (
	allTargets   = []string{"origin", "bare", "tiercache", "nginx", "varnish"}
	allWorkloads = []string{"hit", "mixed"}
)

type config struct {
	mode        string // bench, staleness, instances, gains; origin and bare are the child processes
	origin      string // go or flask
	listen      string // of a child process
	duration    time.Duration
	rounds      int
	connections int
	threads     int
	keys        int
	putPercent  float64
	originDelay time.Duration
	samples     int
	targets     []string
	workloads   []string
	serverCPU   int
	loadCPU     int
	originCPU   int
	waitQuiet   time.Duration
	varnishArgs []string
	out         string
	scenarioFlags
	users int // -mode gains
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("loadbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.mode, "mode", "bench", "bench (the throughput tables), staleness (cross-instance staleness of tiercache proxy), instances (one and three tiercache proxies on one Redis), scenarios (loadtest/scenarios.json with loadgen), stack (redis-server and tiercache until Ctrl-C) or gains (the user service in front of PostgreSQL)")
	fs.StringVar(&c.origin, "origin", "go", "origin: go (/item/N) or flask (the Flask user API, /user/userN; bench mode only)")
	fs.StringVar(&c.listen, "listen", "", "-mode stack: tiercache's address (default 127.0.0.1:5000); else the address of the origin or bare process (internal)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "length of one wrk run, or of one loadgen run's measured phase")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds; each runs every target once per workload")
	fs.IntVar(&c.connections, "connections", 64, "wrk connections")
	fs.IntVar(&c.threads, "threads", 1, "wrk threads")
	fs.IntVar(&c.keys, "keys", 1000, "origin keys: /item/0 to /item/keys-1")
	fs.Float64Var(&c.putPercent, "put-percent", 5, "share of PUTs in the mixed workload, in percent")
	fs.DurationVar(&c.originDelay, "origin-delay", 0, "time the origin takes per request")
	fs.IntVar(&c.samples, "samples", 300, "PUTs measured in staleness mode")
	targets := fs.String("targets", strings.Join(allTargets, ","), "targets to measure, comma-separated")
	workloads := fs.String("workloads", strings.Join(allWorkloads, ","), "workloads to run, comma-separated")
	fs.IntVar(&c.serverCPU, "server-cpu", 0, "CPU of the target under test; -1: no pinning")
	fs.IntVar(&c.loadCPU, "load-cpu", 1, "CPU of wrk; -1: no pinning")
	fs.IntVar(&c.originCPU, "origin-cpu", 1, "CPU of the origin; -1: no pinning")
	fs.DurationVar(&c.waitQuiet, "wait-quiet", time.Minute, "before each run, wait at most this long for the CPUs to be idle")
	varnishParams := fs.String("varnish-params", "", "varnishd parameters, comma-separated name=value (e.g. thread_pools=1)")
	fs.StringVar(&c.out, "out", "bench/results/proxy.json", "file for the results (-mode scenarios: directory, default bench/results/loadtest); empty: none")
	c.scenarioFlags.define(fs)
	gainsFlags(fs, &c)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case isSet(fs, "out"):
	case c.mode == "staleness":
		c.out = "bench/results/proxy-staleness.json"
	case c.mode == "instances":
		c.out = "bench/results/instances.json"
	case c.origin == "flask":
		c.out = "bench/results/proxy-flask.json"
	}
	if c.origin == "flask" && !isSet(fs, "targets") {
		*targets = strings.Join(flaskTargets, ",")
	}
	if err := gainsDefaults(fs, &c); err != nil {
		return c, err
	}
	for p := range strings.SplitSeq(*varnishParams, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if !strings.Contains(p, "=") {
			return c, fmt.Errorf("-varnish-params: %q is not name=value", p)
		}
		c.varnishArgs = append(c.varnishArgs, "-p", p)
	}
	var err error
	if c.targets, err = list(*targets, allTargets, "-targets"); err != nil {
		return c, err
	}
	if c.workloads, err = list(*workloads, allWorkloads, "-workloads"); err != nil {
		return c, err
	}
	switch {
	case !slices.Contains([]string{"bench", "staleness", "instances", "scenarios", "stack", "gains", "origin", "bare"}, c.mode):
		return c, fmt.Errorf("-mode %q: want bench, staleness, instances, scenarios, stack or gains", c.mode)
	case c.origin != "go" && c.origin != "flask":
		return c, fmt.Errorf("-origin %q: want go or flask", c.origin)
	case c.origin == "flask" && c.mode != "bench":
		return c, fmt.Errorf("-origin flask: -mode %s measures the Go origin's versions; want -mode bench", c.mode)
	case c.origin == "flask" && c.originDelay > 0:
		return c, errors.New("-origin flask: -origin-delay applies to the Go origin only")
	case c.origin == "flask" && slices.Contains(c.targets, "bare"):
		return c, errors.New("-origin flask: the bare target serves the Go origin's items; leave it out")
	case (c.mode == "origin" || c.mode == "bare") && c.listen == "":
		return c, fmt.Errorf("-mode %s needs -listen", c.mode)
	case c.duration < time.Second:
		return c, fmt.Errorf("-duration %v: at least 1s", c.duration)
	case c.rounds < 1:
		return c, fmt.Errorf("-rounds %d: at least 1", c.rounds)
	case c.connections < 1 || c.threads < 1 || c.connections < c.threads:
		return c, fmt.Errorf("-connections %d, -threads %d: want 1 <= threads <= connections", c.connections, c.threads)
	case c.keys < 1 || c.keys > 1_000_000:
		return c, fmt.Errorf("-keys %d: want 1 to 1000000", c.keys)
	case c.putPercent <= 0 || c.putPercent >= 100:
		return c, fmt.Errorf("-put-percent %v: want more than 0 and less than 100", c.putPercent)
	case c.waitQuiet < 0:
		return c, fmt.Errorf("-wait-quiet %v: must not be negative", c.waitQuiet)
	case c.originDelay < 0:
		return c, fmt.Errorf("-origin-delay %v: must not be negative", c.originDelay)
	case c.samples < 1:
		return c, fmt.Errorf("-samples %d: at least 1", c.samples)
	case c.serverCPU < -1 || c.loadCPU < -1 || c.originCPU < -1:
		return c, errors.New("a -*-cpu flag is a CPU number, or -1")
	}
	return c, checkScenarioFlags(&c, fs)
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// list splits a comma-separated list of names from known, keeping known's
// order.
func list(s string, known []string, flagName string) ([]string, error) {
	var names, out []string
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("%s: unknown %q (want some of %s)", flagName, name, strings.Join(known, ","))
		}
		names = append(names, name)
	}
	for _, k := range known {
		if slices.Contains(names, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	switch c.mode {
	case "origin":
		return serveOrigin(ctx, c.listen, c.keys, c.originDelay)
	case "bare":
		return serveBare(ctx, c.listen, c.keys)
	case "staleness":
		return staleness(ctx, c, stdout, stderr)
	case "instances":
		return instances(ctx, c, stdout, stderr)
	case "scenarios":
		return runScenarios(ctx, c, stdout, stderr)
	case "stack":
		return runStack(ctx, c, stdout, stderr)
	case "gains":
		return gains(ctx, c, stdout, stderr)
	}
	return bench(ctx, c, stdout, stderr)
}

// writeReport writes report, the JSON of a mode's results, to out and the
// markdown table md next to it (.md), which bench/cmd/report reads.
func writeReport(out, md string, report map[string]any) error {
	b, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(strings.TrimSuffix(out, ".json")+".md", []byte(md), 0o644)
}
