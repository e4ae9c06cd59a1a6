package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tiercache/tiercache/internal/launch"
	"github.com/tiercache/tiercache/loadtest"
)

// scenarioFlags are the flags of -mode scenarios and -mode stack.
type scenarioFlags struct {
	scenarios    []string // of loadtest/scenarios.json, in its order
	models       []string // open, closed
	loadgenFlags []string
	redisPort    int
	// complete: every scenario in both models, a run whose summaries
	// replace all of -out; a smaller run replaces only its own files.
	complete bool

	rawScenarios, rawModels, rawLoadgenFlags string
}

var allModels = []string{"open", "closed"}

// loadgenOwnFlags are the loadgen flags that loadbench sets itself, and
// loadgenNoLoad those that make loadgen run no load.
var (
	loadgenOwnFlags = []string{"target", "scenario", "model", "duration", "label", "json"}
	loadgenNoLoad   = []string{"list", "seed-only", "h", "help"}
)

func (s *scenarioFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&s.rawScenarios, "scenarios", "", "-mode scenarios: scenarios of loadtest/scenarios.json to run, comma-separated (default: all)")
	fs.StringVar(&s.rawModels, "models", strings.Join(allModels, ","), "-mode scenarios: load models to run each scenario in")
	fs.StringVar(&s.rawLoadgenFlags, "loadgen-flags", "", "-mode scenarios: more loadgen flags for every run, space-separated, e.g. '-rate 8000' (loadgen -h)")
	fs.IntVar(&s.redisPort, "redis-port", 6390, "-mode stack: redis-server's port on 127.0.0.1")
}

// checkScenarioFlags validates the flags of -mode scenarios and -mode
// stack and sets the defaults that differ in those modes: -out is the
// summaries' directory; the stack listens on 127.0.0.1:5000 and is pinned
// only when -server-cpu is given.
func checkScenarioFlags(c *config, fs *flag.FlagSet) error {
	s := &c.scenarioFlags
	switch c.mode {
	case "scenarios":
		if !isSet(fs, "out") {
			c.out = "bench/results/loadtest"
		}
		if c.out != "" {
			c.out = filepath.Clean(c.out)
		}
		file, err := loadtest.Load()
		if err != nil {
			return err
		}
		all := file.Names()
		s.scenarios = all
		if s.rawScenarios != "" {
			if s.scenarios, err = list(s.rawScenarios, all, "-scenarios"); err != nil {
				return err
			}
		}
		if s.models, err = list(s.rawModels, allModels, "-models"); err != nil {
			return err
		}
		s.complete = len(s.scenarios) == len(all) && len(s.models) == len(allModels)
		s.loadgenFlags = strings.Fields(s.rawLoadgenFlags)
		for _, f := range s.loadgenFlags {
			name, _, _ := strings.Cut(strings.TrimLeft(f, "-"), "=")
			switch {
			case !strings.HasPrefix(f, "-"):
			case slices.Contains(loadgenOwnFlags, name):
				return fmt.Errorf("-loadgen-flags: -%s is set by loadbench (see its -scenarios, -models, -duration, -out)", name)
			case slices.Contains(loadgenNoLoad, name):
				return fmt.Errorf("-loadgen-flags: with -%s loadgen runs no load", name)
			}
		}
	case "stack":
		if c.listen == "" {
			c.listen = "127.0.0.1:5000"
		}
		if !isSet(fs, "server-cpu") {
			c.serverCPU = -1
		}
		host, port, err := net.SplitHostPort(c.listen)
		if err == nil {
			err = loadtest.CheckLoopback(host)
		}
		if n, perr := strconv.Atoi(port); err == nil && (perr != nil || n < 1 || n > 65535) {
			err = errors.New("no port")
		}
		if err != nil {
			return fmt.Errorf("-listen %q: want a loopback host:port like 127.0.0.1:5000 (%v)", c.listen, err)
		}
		if s.redisPort < 1 || s.redisPort > 65535 || strconv.Itoa(s.redisPort) == port {
			return fmt.Errorf("-redis-port %d: want a port from 1 to 65535 other than -listen's", s.redisPort)
		}
	}
	return nil
}

// exitError carries the exit status of a run.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode is loadbench's exit status for an error of run: 130 when
// interrupted, 1 when a threshold failed (-mode scenarios), 2 when the run
// could not be carried out.
func exitCode(err error) int {
	var e *exitError
	switch {
	case errors.As(err, &e):
		return e.code
	case errors.Is(err, context.Canceled):
		return 130
	}
	return 2
}

// Exit statuses of -mode scenarios, those of loadgen.
const (
	exitFail        = 1
	exitSetup       = 2
	exitInterrupted = 130
)

// runScenarios is -mode scenarios, make loadtest-all: every chosen scenario
// of loadtest/scenarios.json in every chosen model, run by loadgen on
// -load-cpu, first against tiercache (its own redis-server and tiercache
// user service, built from ./cmd/tiercache with the store in a temporary
// directory), then against the bare ceiling server (loadtest/cmd/bare),
// each on -server-cpu and alone on it: tiercache and its Redis are stopped
// before bare starts. In the open model both get the same arrival rate, so
// only latency tells them apart; the closed model's requests/s is the
// ceiling comparison.
//
// loadgen's summaries, <scenario>-<model>.json against tiercache and
// bare-<scenario>-<model>.json against bare, go to a fresh directory next
// to -out and replace those of -out only at the end of a run in which
// every loadgen run was carried out, thresholds met or not: a failed
// threshold is a result. A complete run (every scenario, both models)
// replaces all of -out; a smaller one only the files it wrote. A run cut
// short leaves -out as it was, so that it never mixes summaries of a run
// with those of a run that did not finish.
//
// It prints each run's progress to stderr and the table of both servers
// side by side to stdout. The error's exitCode is 1 when a threshold
// failed, 2 when a run could not be carried out, 130 when interrupted.
func runScenarios(ctx context.Context, c config, stdout, stderr io.Writer) error {
	checkPinning(&c, stderr)
	dir, err := os.MkdirTemp("", "loadbench-scenarios-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintln(stderr, "== building tiercache, loadgen and bare")
	bins := map[string]string{}
	for _, pkg := range []string{"./cmd/tiercache", "./loadtest/cmd/loadgen", "./loadtest/cmd/bare"} {
		if bins[filepath.Base(pkg)], err = goBuild(dir, pkg); err != nil {
			return err
		}
	}
	// The summaries of this run, in a directory next to -out, so that
	// moving them there is a rename.
	sums := filepath.Join(dir, "summaries")
	if c.out != "" {
		if err := os.MkdirAll(filepath.Dir(c.out), 0o755); err != nil {
			return err
		}
		if sums, err = os.MkdirTemp(filepath.Dir(c.out), "."+filepath.Base(c.out)+"."); err != nil {
			return err
		}
	} else if err := os.Mkdir(sums, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(sums)

	r := &loadRunner{c: c, loadgen: bins["loadgen"], dir: sums, stderr: stderr}
	port, err := launch.FreePort()
	if err != nil {
		return err
	}
	s, err := startUserStack(dir, bins["tiercache"], "127.0.0.1:"+strconv.Itoa(port), 0, c.serverCPU, stderr)
	if err != nil {
		return err
	}
	err = r.runAll(ctx, "tiercache", s.url)
	s.stop()
	if err != nil {
		return err
	}

	if port, err = launch.FreePort(); err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	fmt.Fprintf(stderr, "\n== starting bare%s\n", onCPU(c.serverCPU))
	bare, err := startProc("bare", dir, c.serverCPU, "http://"+addr, "/readyz", bins["bare"], "-listen", addr)
	if err != nil {
		printLog(stderr, filepath.Join(dir, "bare.log"))
		return err
	}
	// bare registers anything, so seeding it would only cost time.
	err = r.runAll(ctx, "bare", "http://"+addr, "-no-seed")
	bare.stop()
	if err != nil {
		return err
	}

	fmt.Fprintf(stdout, "\n== tiercache and bare, same run (duration %v; %s)\n", c.duration, placement(c))
	r.writeTable(stdout)
	if len(r.broken) > 0 {
		return &exitError{exitSetup, fmt.Errorf("%s; %s", strings.Join(append(r.broken, r.failed...), "; "), untouched(c))}
	}
	if ctx.Err() != nil {
		return &exitError{exitInterrupted, errors.New("interrupted; " + untouched(c))}
	}
	if c.out != "" {
		// No signal stops this: main catches them until run returns.
		if err := publish(sums, c.out, c.complete); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "summaries in %s/\n", c.out)
	}
	if len(r.failed) > 0 {
		return &exitError{exitFail, errors.New(strings.Join(r.failed, "; "))}
	}
	return nil
}

// placement says where the servers and loadgen ran.
func placement(c config) string {
	if c.serverCPU < 0 && c.loadCPU < 0 {
		return "not pinned"
	}
	where := func(cpu int) string {
		if cpu < 0 {
			return "any CPU"
		}
		return "CPU " + strconv.Itoa(cpu)
	}
	return "servers on " + where(c.serverCPU) + ", loadgen on " + where(c.loadCPU)
}

// loadRunner runs loadgen and keeps count of the runs.
type loadRunner struct {
	c       config
	loadgen string
	dir     string // the summaries
	stderr  io.Writer
	failed  []string // a threshold failed: a result all the same
	broken  []string // could not be carried out: no result
}

// summaryName is the file of a summary: bench/cmd/report finds them by
// their fields, people by these names.
func summaryName(label, scenario, model string) string {
	if label == "bare" {
		return "bare-" + scenario + "-" + model + ".json"
	}
	return scenario + "-" + model + ".json"
}

// runAll runs loadgen once per scenario and model against url; it returns
// an error only when the run is interrupted.
func (r *loadRunner) runAll(ctx context.Context, label, url string, flags ...string) error {
	for _, s := range r.c.scenarios {
		for _, m := range r.c.models {
			fmt.Fprintf(r.stderr, "\n== %s: %s, %s model, %v\n", label, s, m, r.c.duration)
			args := append([]string{"-target", url, "-scenario", s, "-model", m, "-duration", r.c.duration.String(),
				"-label", label, "-json", filepath.Join(r.dir, summaryName(label, s, m))}, flags...)
			code := r.run(ctx, append(args, r.c.loadgenFlags...))
			switch {
			case ctx.Err() != nil || code == exitInterrupted:
				return &exitError{exitInterrupted, errors.New("interrupted; " + untouched(r.c))}
			case code == 0:
			case code == exitFail:
				r.failed = append(r.failed, fmt.Sprintf("%s %s %s: a threshold failed", label, s, m))
			default:
				r.broken = append(r.broken, fmt.Sprintf("%s %s %s: could not run (loadgen exit %d)", label, s, m, code))
			}
		}
	}
	return nil
}

// untouched says that a run cut short wrote no summary.
func untouched(c config) string {
	if c.out == "" {
		return "no summary written"
	}
	return c.out + " left as it was"
}

// run runs loadgen with args on -load-cpu and returns its exit status.
// loadgen gets a process group of its own, so that a Ctrl-C in the
// terminal reaches only loadbench, which passes it on once: loadgen then
// finishes the requests in flight and exits 130. A second signal would
// kill it at once.
func (r *loadRunner) run(ctx context.Context, args []string) int {
	bin := r.loadgen
	if r.c.loadCPU >= 0 {
		args = append([]string{"-c", strconv.Itoa(r.c.loadCPU), bin}, args...)
		bin = "taskset"
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = r.stderr, r.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 15 * time.Second
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode()
	}
	fmt.Fprintln(r.stderr, "loadbench: loadgen:", err)
	return exitSetup
}

// writeTable prints tiercache's and bare's summaries side by side.
func (r *loadRunner) writeTable(w io.Writer) {
	const row = "%-16s %-7s %12s %12s %7s %10s %10s %9s\n"
	fmt.Fprintf(w, row, "scenario", "model", "req/s", "bare req/s", "ratio", "p99 ms", "bare p99", "hit ratio")
	for _, s := range r.c.scenarios {
		for _, m := range r.c.models {
			t, b := r.read("tiercache", s, m), r.read("bare", s, m)
			cell := func(res *loadtest.Result, f func(*loadtest.Result) string) string {
				if res == nil {
					return "-"
				}
				return f(res)
			}
			rps := func(res *loadtest.Result) string { return strconv.FormatFloat(res.RPS, 'f', 0, 64) }
			p99 := func(res *loadtest.Result) string { return strconv.FormatFloat(res.LatencyMs.P99, 'f', 2, 64) }
			ratio, hits := "-", "-"
			if t != nil && b != nil && b.RPS > 0 {
				ratio = strconv.FormatFloat(t.RPS/b.RPS, 'f', 2, 64)
			}
			if t != nil && t.Cache != nil {
				hits = strconv.FormatFloat(t.Cache.HitRatio*100, 'f', 1, 64) + "%"
			}
			fmt.Fprintf(w, row, s, m, cell(t, rps), cell(b, rps), ratio, cell(t, p99), cell(b, p99), hits)
		}
	}
}

// read reads a summary of this run; nil when there is none. A summary that
// does not parse makes the run broken.
func (r *loadRunner) read(label, scenario, model string) *loadtest.Result {
	name := summaryName(label, scenario, model)
	b, err := os.ReadFile(filepath.Join(r.dir, name))
	if err != nil {
		return nil
	}
	var res loadtest.Result
	if err := json.Unmarshal(b, &res); err != nil {
		r.broken = append(r.broken, fmt.Sprintf("cannot parse %s: %v", name, err))
		return nil
	}
	return &res
}

// publish moves the summaries of dir into out. With all, the summaries out
// holds that this run did not write are removed, so that out holds one run.
func publish(dir, out string, all bool) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	fresh, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	if all {
		old, err := filepath.Glob(filepath.Join(out, "*.json"))
		if err != nil {
			return err
		}
		for _, f := range old {
			if !slices.Contains(fresh, filepath.Join(dir, filepath.Base(f))) {
				if err := os.Remove(f); err != nil {
					return err
				}
			}
		}
	}
	for _, f := range fresh {
		if err := os.Rename(f, filepath.Join(out, filepath.Base(f))); err != nil {
			return err
		}
	}
	return nil
}
