package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// runMainEnv makes the test binary run main with its arguments instead of
// the tests: the tests that send real signals run loadgen as a process.
const runMainEnv = "LOADGEN_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
	}
	os.Exit(m.Run())
}

// process is loadgen run as a child process by startLoadgen.
type process struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	done   chan struct{} // closed when it has exited and its output is read
	err    error         // of Wait, once done

	mu     sync.Mutex
	stderr strings.Builder
}

// startLoadgen starts loadgen with args; it is killed if it still runs
// when the test ends.
func startLoadgen(t *testing.T, args ...string) *process {
	t.Helper()
	p := &process{done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], args...)
	p.cmd.Env = append(os.Environ(), runMainEnv+"=1")
	p.cmd.Stdout = &p.stdout
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *process) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// wait waits up to d for the process to exit and reports whether it did.
func (p *process) wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// waitFor polls cond every 10 ms for up to d and reports whether it held.
func waitFor(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// Ctrl-C in the measured phase stops the run: loadgen reports what it
// measured as interrupted, writes no -json summary (a cut-short run must
// not pass for a result), and exits 130, the status loadbench -mode
// scenarios stops at.
func TestSignalStopsTheRun(t *testing.T) {
	t.Parallel()
	var answered atomic.Int64
	target := serve(t, func(ctx *fasthttp.RequestCtx) {
		answered.Add(1)
		ok200(ctx)
	})
	path := filepath.Join(t.TempDir(), "summary.json")
	p := startLoadgen(t, "-target", target, "-scenario", "read-only", "-model", "closed", "-vus", "2",
		"-no-seed", "-duration", "30s", "-json", path)
	if !waitFor(10*time.Second, func() bool { return answered.Load() >= 100 }) {
		t.Fatalf("no load came; stderr:\n%s", p.stderrText())
	}
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if !p.wait(5 * time.Second) {
		t.Fatalf("still running 5 s after SIGINT; stderr:\n%s", p.stderrText())
	}
	var exit *exec.ExitError
	if !errors.As(p.err, &exit) || exit.ExitCode() != exitInterrupted {
		t.Errorf("exit %v; want status %d\nstdout:\n%s\nstderr:\n%s", p.err, exitInterrupted, &p.stdout, p.stderrText())
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the -json summary of an interrupted run exists (stat: %v); want none", err)
	}
	if out := p.stdout.String(); !strings.Contains(out, "INTERRUPTED") || !strings.Contains(out, "requests") {
		t.Errorf("stdout does not report the measured requests as interrupted:\n%s", out)
	}
}

// A second Ctrl-C kills loadgen at once, even while the requests in flight
// hang: the first one has given the signal back its default action.
func TestSecondSignalKills(t *testing.T) {
	t.Parallel()
	hung := make(chan struct{}, 1)
	release := make(chan struct{})
	target := serve(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/healthz" {
			return
		}
		select {
		case hung <- struct{}{}:
		default:
		}
		<-release
	})
	t.Cleanup(func() { close(release) }) // before serve's cleanup: it waits for the handlers
	p := startLoadgen(t, "-target", target, "-scenario", "read-only", "-model", "closed", "-vus", "2",
		"-no-seed", "-duration", "30s", "-timeout", "1m")
	select {
	case <-hung:
	case <-time.After(10 * time.Second):
		t.Fatalf("no request came; stderr:\n%s", p.stderrText())
	}
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	// loadgen says when the first signal is handled; a signal sent sooner
	// could be taken for the first.
	if !waitFor(5*time.Second, func() bool { return strings.Contains(p.stderrText(), "again") }) {
		t.Errorf("no word after the first SIGINT of what a second does; stderr:\n%s", p.stderrText())
	}
	if p.wait(200 * time.Millisecond) {
		t.Fatalf("exited (%v) after the first SIGINT with its requests hanging; want it to wait for them", p.err)
	}
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if !p.wait(5 * time.Second) {
		t.Fatalf("still running 5 s after the second SIGINT; stderr:\n%s", p.stderrText())
	}
	var exit *exec.ExitError
	if !errors.As(p.err, &exit) {
		t.Fatalf("exit %v; want death by SIGINT", p.err)
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
		t.Errorf("exit %v; want death by SIGINT, so that a shell running loadgen stops too", p.err)
	}
}

// An interruption exits 130 whenever it comes: in the measured phase, in
// the seeding, with -seed-only; only what was measured is reported, and no
// -json summary is written.
func TestInterruptExits130(t *testing.T) {
	t.Parallel()
	// interrupting answers every request, and cancels ctx at the 50th.
	interrupting := func(cancel context.CancelFunc) string {
		var n atomic.Int64
		return serve(t, func(ctx *fasthttp.RequestCtx) {
			if string(ctx.Path()) != "/healthz" && n.Add(1) == 50 {
				cancel()
			}
			ok200(ctx)
			if ctx.IsPost() {
				ctx.SetStatusCode(201)
			}
		})
	}
	for _, c := range []struct {
		name string
		args []string
		out  string // in stdout
	}{
		{"open", []string{"-scenario", "read-heavy", "-no-seed", "-duration", "30s", "-rate", "1000"}, "INTERRUPTED"},
		{"closed", []string{"-scenario", "read-heavy", "-no-seed", "-duration", "30s", "-model", "closed"}, "INTERRUPTED"},
		{"seeding", []string{"-scenario", "mixed", "-duration", "30s"}, ""},
		{"seed-only", []string{"-scenario", "mixed", "-seed-only"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			path := filepath.Join(t.TempDir(), "summary.json")
			args := append([]string{"-target", interrupting(cancel), "-json", path}, c.args...)
			var out, errOut bytes.Buffer
			code := cli(ctx, args, &out, &errOut)
			if code != exitInterrupted {
				t.Errorf("exit %d; want %d\nstdout:\n%s\nstderr:\n%s", code, exitInterrupted, &out, &errOut)
			}
			if !strings.Contains(out.String(), c.out) {
				t.Errorf("stdout without %q:\n%s", c.out, &out)
			}
			if !strings.Contains(errOut.String(), "interrupted") {
				t.Errorf("stderr does not say the run was interrupted:\n%s", &errOut)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the -json summary of an interrupted run exists (stat: %v); want none", err)
			}
		})
	}
}
