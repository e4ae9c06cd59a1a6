// Command loadgen runs a scenario of loadtest/scenarios.json (the file the
// k6 scripts read too) against tiercache, or against the bare ceiling
// server (loadtest/cmd/bare), on loopback only.
//
// It first registers the scenario's seeded users (201 and 409 both count,
// so re-runs are idempotent) and reads each of them warm_passes times to
// warm the caches, then runs the measured phase in the open model
// (a constant arrival rate; latency counts from each request's intended
// start, which corrects for coordinated omission) or the closed model
// (constant VUs; latency counts from the send). It prints a progress line
// every second to stderr, a report to stdout, and with -json a summary that
// bench/cmd/report renders into BENCHMARKS.md.
//
// Exit status: 0 when every threshold held, 1 when one failed, 2 when the
// run could not be carried out (bad flags, target unreachable or not
// loopback, seeding failed), 130 when it was interrupted (SIGINT or
// SIGTERM). Run loadgen -h for the flags.
//
// The first Ctrl-C stops the run: loadgen sends nothing more, waits for the
// requests in flight, prints what it measured marked as interrupted, and
// exits 130 without writing -json, so that a cut-short run is never taken
// for a result. Exiting 130 rather than dying of the signal is how a program
// running loadgen (bench/cmd/loadbench -mode scenarios, a shell script)
// learns to stop too: bash takes a child that caught SIGINT and exited as
// having handled it. A second Ctrl-C kills loadgen at once, without waiting
// for a hung server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/tiercache/tiercache/loadtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal cancels ctx. stop then gives the signals back their
	// default action, so that a second one kills the process while the run
	// still waits for its requests in flight. The message comes after
	// stop: once it shows, a second Ctrl-C cannot be swallowed.
	unwatch := context.AfterFunc(ctx, func() {
		stop()
		fmt.Fprintf(os.Stderr, "loadgen: %v: finishing the requests in flight; interrupt again to quit at once\n", context.Cause(ctx))
	})
	code := cli(ctx, os.Args[1:], os.Stdout, os.Stderr)
	unwatch() // before stop, whose cancellation is no signal
	stop()    // os.Exit runs no deferred call
	os.Exit(code)
}

// Exit statuses.
const (
	exitPass        = 0
	exitFail        = 1   // a threshold failed
	exitSetup       = 2   // the run could not be carried out
	exitInterrupted = 130 // a signal cut the run short: 128 + SIGINT, as a shell reports it
)

// cli is main without the process: it returns the exit status. ctx is
// cancelled only by a signal: a cancelled ctx means the user interrupted
// the run, whatever else went wrong.
func cli(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stdout, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp), errors.Is(err, errListed):
		return exitPass
	case err != nil:
		fmt.Fprintln(stderr, "loadgen:", err)
		return exitSetup
	}
	if cfg.seedOnly {
		err := seedOnly(ctx, cfg)
		switch {
		case ctx.Err() != nil:
			return interrupted(ctx, err, "", stderr)
		case err != nil:
			fmt.Fprintln(stderr, "loadgen:", err)
			return exitSetup
		}
		return exitPass
	}
	sum, err := run(ctx, cfg)
	switch {
	case ctx.Err() != nil:
		if err == nil {
			sum.interrupted = true
			sum.print(stdout, "")
		}
		return interrupted(ctx, err, cfg.jsonPath, stderr)
	case err != nil:
		fmt.Fprintln(stderr, "loadgen:", err)
		return exitSetup
	}
	if cfg.jsonPath != "" {
		if err := sum.writeJSON(cfg.jsonPath); err != nil {
			sum.print(stdout, "")
			fmt.Fprintln(stderr, "loadgen:", err)
			return exitSetup
		}
	}
	sum.print(stdout, cfg.jsonPath)
	if !sum.Passed {
		return exitFail
	}
	return exitPass
}

// interrupted reports an interruption, with err if there was one and the
// -json path it did not write, and returns exitInterrupted.
func interrupted(ctx context.Context, err error, jsonPath string, stderr io.Writer) int {
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
	}
	if jsonPath != "" {
		fmt.Fprintf(stderr, "loadgen: %s not written: the run was cut short\n", jsonPath)
	}
	fmt.Fprintf(stderr, "loadgen: interrupted (%v)\n", context.Cause(ctx))
	return exitInterrupted
}

// Models.
const (
	modelOpen   = "open"
	modelClosed = "closed"
)

// config is one run.
type config struct {
	target   string // http://host:port, host on loopback
	addr     string // host:port to dial
	scenario loadtest.Scenario
	users    loadtest.Users
	model    string        // modelOpen or modelClosed
	duration time.Duration // of the measured phase
	rate     int           // open: iterations (= requests) per second
	vus      int           // closed: workers; open: pre-allocated workers
	maxVUs   int           // open: at most this many workers
	conns    int           // the client's connections
	timeout  time.Duration // read and write timeout of each request
	seed     bool          // register the seeded users first
	seedOnly bool          // only that
	label    string
	jsonPath string
	progress io.Writer // progress lines; io.Discard for none

	// dispatchHook, when set, runs in the open model's dispatcher before
	// it hands out iteration i; tests use it to stall the dispatcher.
	dispatchHook func(i int64)
}

var errListed = errors.New("listed")

func parseFlags(args []string, stdout, stderr io.Writer) (config, error) {
	var (
		c          config
		name       string
		rate, vus  int
		duration   time.Duration
		noSeed     bool
		list       bool
		fileTarget string
	)
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&fileTarget, "target", "http://127.0.0.1:5000", "base URL of the server under load; its host must be loopback (127.0.0.0/8, ::1, localhost)")
	fs.StringVar(&name, "scenario", "read-heavy", "scenario of scenarios.json to run (-list lists them)")
	fs.StringVar(&c.model, "model", modelOpen, "open (constant arrival rate; latency from the intended start) or closed (constant VUs; latency from the send)")
	fs.DurationVar(&duration, "duration", 0, "measured phase (default: the scenario's)")
	fs.IntVar(&rate, "rate", 0, "open model: requests per second (default: the scenario's)")
	fs.IntVar(&vus, "vus", 0, "closed model: VUs; open model: pre-allocated VUs, raising max VUs to match if needed (default: the scenario's)")
	fs.IntVar(&c.conns, "conns", 0, "most connections the client opens (default: max VUs, at least 64 for seeding)")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Second, "read and write timeout of each request, and longest wait for a free connection")
	fs.BoolVar(&c.seedOnly, "seed-only", false, "register the scenario's seeded users and read each of them warm_passes times (warming the caches), then exit")
	fs.BoolVar(&noSeed, "no-seed", false, "skip the seeding: neither register the seeded users nor read them warm_passes times")
	fs.StringVar(&c.jsonPath, "json", "", "write the JSON summary to this path")
	fs.StringVar(&c.label, "label", "tiercache", "free text recorded in the summary, such as tiercache or bare")
	fs.BoolVar(&list, "list", false, "list the scenarios and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: loadgen [flags]\n\n"+
			"Runs a scenario of loadtest/scenarios.json against a server on loopback.\n"+
			"Exit status: 0 all thresholds held, 1 a threshold failed, 2 the run could not be done,\n"+
			"130 interrupted (Ctrl-C or SIGTERM: what was measured is printed, -json is not written;\n"+
			"a second Ctrl-C quits at once).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	file, err := loadtest.Load()
	if err != nil {
		return c, err
	}
	if list {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		for _, n := range file.Names() {
			fmt.Fprintf(tw, "%s\t%s\n", n, file.Scenarios[n].Description)
		}
		tw.Flush()
		return c, errListed
	}
	if c.scenario, err = file.Scenario(name); err != nil {
		return c, err
	}
	c.users = file.Users
	if c.target, c.addr, err = parseTarget(fileTarget); err != nil {
		return c, err
	}
	if noSeed && c.seedOnly {
		return c, errors.New("-no-seed and -seed-only exclude each other")
	}
	c.seed = !noSeed
	if rate < 0 || vus < 0 || duration < 0 || c.conns < 0 || c.timeout <= 0 {
		return c, errors.New("-rate, -vus, -duration, -conns must be >= 0 and -timeout > 0")
	}
	sc := c.scenario
	switch c.model {
	case modelOpen:
		c.rate, c.duration, c.vus, c.maxVUs = sc.Open.Rate, time.Duration(sc.Open.Duration), sc.Open.PreAllocatedVUs, sc.Open.MaxVUs
		if rate > 0 {
			c.rate = rate
		}
		if vus > 0 {
			c.vus, c.maxVUs = vus, max(c.maxVUs, vus)
		}
	case modelClosed:
		if rate > 0 {
			return c, errors.New("-rate applies to the open model only")
		}
		c.duration, c.vus = time.Duration(sc.Closed.Duration), sc.Closed.VUs
		if vus > 0 {
			c.vus = vus
		}
		c.maxVUs = c.vus
	default:
		return c, fmt.Errorf("-model %q: want open or closed", c.model)
	}
	if duration > 0 {
		c.duration = duration
	}
	if c.conns == 0 {
		c.conns = max(c.maxVUs, seedWorkers)
	}
	c.progress = stderr
	return c, nil
}

// parseTarget checks a base URL and returns it without a trailing slash,
// and the address to dial. localhost is dialled as 127.0.0.1, so that no
// resolver can send the load elsewhere.
func parseTarget(s string) (target, addr string, err error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", "", fmt.Errorf("-target %q: %w", s, err)
	}
	if u.Scheme != "http" {
		return "", "", fmt.Errorf("-target %q: want an http:// URL", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return "", "", fmt.Errorf("-target %q: want only scheme, host and port, like http://127.0.0.1:5000", s)
	}
	host, port := u.Hostname(), u.Port()
	if err := loadtest.CheckLoopback(host); err != nil {
		return "", "", fmt.Errorf("-target %q: %w", s, err)
	}
	if port == "" {
		port = "80"
	}
	if strings.EqualFold(host, "localhost") {
		host = "127.0.0.1"
	}
	addr = net.JoinHostPort(host, port)
	return "http://" + addr, addr, nil
}
