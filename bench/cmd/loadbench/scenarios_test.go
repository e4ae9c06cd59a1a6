package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/tiercache/tiercache/loadtest"
)

func TestScenarioFlags(t *testing.T) {
	file, err := loadtest.Load()
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseFlags([]string{"-mode", "scenarios"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.out != "bench/results/loadtest" || strings.Join(c.scenarios, ",") != strings.Join(file.Names(), ",") ||
		strings.Join(c.models, ",") != "open,closed" || !c.complete || c.serverCPU != 0 || c.loadCPU != 1 {
		t.Errorf("scenarios defaults: out %q, scenarios %v, models %v, complete %v, cpus %d/%d",
			c.out, c.scenarios, c.models, c.complete, c.serverCPU, c.loadCPU)
	}
	c, err = parseFlags([]string{"-mode", "scenarios", "-scenarios", "stampede, read-only", "-models", "closed",
		"-out", "x/loadtest/", "-loadgen-flags", " -rate 8000  -vus=4 "}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.scenarios, ",") != "read-only,stampede" || strings.Join(c.models, ",") != "closed" || c.complete ||
		c.out != "x/loadtest" || strings.Join(c.loadgenFlags, " ") != "-rate 8000 -vus=4" {
		t.Errorf("scenarios, models, complete, out, loadgen flags: %v %v %v %q %q", c.scenarios, c.models, c.complete, c.out, c.loadgenFlags)
	}
	c, err = parseFlags([]string{"-mode", "stack"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.listen != "127.0.0.1:5000" || c.redisPort != 6390 || c.serverCPU != -1 {
		t.Errorf("stack defaults: listen %q, redis port %d, server cpu %d", c.listen, c.redisPort, c.serverCPU)
	}
	c, err = parseFlags([]string{"-mode", "stack", "-listen", "localhost:5001", "-redis-port", "6391", "-server-cpu", "0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.listen != "localhost:5001" || c.redisPort != 6391 || c.serverCPU != 0 {
		t.Errorf("stack: listen %q, redis port %d, server cpu %d", c.listen, c.redisPort, c.serverCPU)
	}

	for _, tt := range []struct {
		args []string
		want string // the start of the error
	}{
		{[]string{"-mode", "scenario"}, "-mode"},
		{[]string{"-mode", "scenarios", "-scenarios", "read-heavy,nope"}, "-scenarios"},
		{[]string{"-mode", "scenarios", "-scenarios", ","}, "-scenarios"},
		{[]string{"-mode", "scenarios", "-models", "half"}, "-models"},
		{[]string{"-mode", "scenarios", "-models", ""}, "-models"},
		{[]string{"-mode", "scenarios", "-duration", "100ms"}, "-duration"},
		{[]string{"-mode", "scenarios", "-loadgen-flags", "-rate 10 -json x.json"}, "-loadgen-flags"},
		{[]string{"-mode", "scenarios", "-loadgen-flags", "--target=http://127.0.0.1:1"}, "-loadgen-flags"},
		{[]string{"-mode", "scenarios", "-loadgen-flags", "-duration 1s"}, "-loadgen-flags"},
		{[]string{"-mode", "scenarios", "-loadgen-flags", "-seed-only"}, "-loadgen-flags"},
		{[]string{"-mode", "scenarios", "-load-cpu", "-3"}, "a -*-cpu flag"},
		{[]string{"-mode", "stack", "-listen", "0.0.0.0:5000"}, "-listen"},
		{[]string{"-mode", "stack", "-listen", "5000"}, "-listen"},
		{[]string{"-mode", "stack", "-listen", "127.0.0.1:http"}, "-listen"},
		{[]string{"-mode", "stack", "-listen", "127.0.0.1:70000"}, "-listen"},
		{[]string{"-mode", "stack", "-redis-port", "0"}, "-redis-port"},
		{[]string{"-mode", "stack", "-redis-port", "5000"}, "-redis-port"},
		{[]string{"-mode", "stack", "extra"}, "unexpected argument"},
	} {
		_, err := parseFlags(tt.args, io.Discard)
		switch {
		case err == nil:
			t.Errorf("%q: no error", tt.args)
		case !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "\n"):
			t.Errorf("%q: error %q; want one line starting with %q", tt.args, err, tt.want)
		}
	}
}

func TestExitCode(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want int
	}{
		{&exitError{exitFail, io.EOF}, 1},
		{&exitError{exitInterrupted, io.EOF}, 130},
		{context.Canceled, 130},
		{io.EOF, 2},
	} {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d; want %d", tt.err, got, tt.want)
		}
	}
}

// chdirRoot makes the repository's root the working directory, as
// loadbench needs.
func chdirRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	return root
}

// TestScenarios runs one short scenario in one model against tiercache and
// bare, and checks the summaries written, the table, and that the run
// replaced only its own files of -out.
func TestScenarios(t *testing.T) {
	chdirRoot(t)
	out := filepath.Join(t.TempDir(), "loadtest")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	// A summary of an earlier run of another scenario: a run of one
	// scenario must keep it; one of the same scenario is replaced.
	other, same := filepath.Join(out, "mixed-open.json"), filepath.Join(out, "register-burst-closed.json")
	for _, f := range []string{other, same} {
		if err := os.WriteFile(f, []byte("{}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"-mode", "scenarios", "-scenarios", "register-burst", "-models", "closed",
		"-duration", "1s", "-out", out, "-loadgen-flags", "-vus 4"}, &stdout, &stderr)
	// The thresholds are the scenario's: a busy machine can miss them.
	if err != nil && exitCode(err) != exitFail {
		t.Fatalf("run: %v (exit %d)\nstderr:\n%s", err, exitCode(err), stderr.String())
	}
	for label, name := range map[string]string{"tiercache": "register-burst-closed.json", "bare": "bare-register-burst-closed.json"} {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		var r loadtest.Result
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.Scenario != "register-burst" || r.Model != "closed" || r.Label != label || r.VUs != 4 || r.Requests == 0 {
			t.Errorf("%s: scenario %q, model %q, label %q, VUs %d, requests %d; want register-burst, closed, %s, 4, > 0",
				name, r.Scenario, r.Model, r.Label, r.VUs, r.Requests, label)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("the summary of another scenario is gone: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".loadtest.*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	table := stdout.String()
	header := regexp.MustCompile(`(?m)^scenario +model +req/s +bare req/s +ratio +p99 ms +bare p99 +hit ratio$`)
	row := regexp.MustCompile(`(?m)^register-burst +closed +\d+ +\d+ +\d+\.\d\d +\d+\.\d\d +\d+\.\d\d +(\d+\.\d%|-)$`)
	if !header.MatchString(table) || len(row.FindAllString(table, -1)) != 1 {
		t.Errorf("table:\n%s", table)
	}
	if !strings.Contains(stderr.String(), "== bare: register-burst, closed model, 1s") {
		t.Errorf("no progress line for bare in stderr:\n%s", stderr.String())
	}
}

// cancelOn is a writer that cancels a run once its output shows a word.
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	word   string
	cancel func()
}

func (w *cancelOn) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.word) {
		w.cancel()
	}
	return len(p), nil
}

// TestScenariosInterrupted interrupts a run while loadgen runs: loadgen
// gets the signal, and the run exits 130 without touching -out.
func TestScenariosInterrupted(t *testing.T) {
	chdirRoot(t)
	out := filepath.Join(t.TempDir(), "loadtest")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// loadgen's first progress line: the measured phase has begun.
	stderr := &cancelOn{word: "[  1s]", cancel: cancel}
	var stdout bytes.Buffer
	err := run(ctx, []string{"-mode", "scenarios", "-scenarios", "register-burst", "-models", "open",
		"-duration", "1m", "-out", out, "-loadgen-flags", "-rate 50"}, &stdout, stderr)
	if exitCode(err) != exitInterrupted {
		t.Fatalf("run: %v (exit %d); want exit 130\nstderr:\n%s", err, exitCode(err), stderr.buf.String())
	}
	if !strings.Contains(stderr.buf.String(), "loadgen: interrupted") {
		t.Errorf("loadgen did not report the interruption:\n%s", stderr.buf.String())
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), "*")); len(left) > 0 {
		t.Errorf("an interrupted run wrote %v", left)
	}
	if stdout.Len() > 0 {
		t.Errorf("an interrupted run printed a table:\n%s", stdout.String())
	}
}

// TestScenariosBroken: a loadgen run that cannot be carried out makes the
// run exit 2 and leaves -out as it was.
func TestScenariosBroken(t *testing.T) {
	chdirRoot(t)
	out := filepath.Join(t.TempDir(), "loadtest")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(out, "stampede-closed.json")
	if err := os.WriteFile(old, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	// loadgen refuses a negative rate: exit 2, no summary.
	err := run(t.Context(), []string{"-mode", "scenarios", "-scenarios", "stampede", "-models", "closed",
		"-duration", "1s", "-out", out, "-loadgen-flags", "-rate -5"}, &stdout, &stderr)
	if exitCode(err) != exitSetup || !strings.Contains(err.Error(), "tiercache stampede closed: could not run (loadgen exit 2)") ||
		!strings.Contains(err.Error(), out+" left as it was") {
		t.Fatalf("run: %v (exit %d); want exit 2 naming the run and %s\nstderr:\n%s", err, exitCode(err), out, stderr.String())
	}
	if b, err := os.ReadFile(old); err != nil || string(b) != "{}\n" {
		t.Errorf("%s: %q, %v; want it as it was", old, b, err)
	}
	if left, _ := filepath.Glob(filepath.Join(out, "*")); len(left) != 1 {
		t.Errorf("out holds %v; want only %s", left, old)
	}
	if !regexp.MustCompile(`(?m)^stampede +closed( +-){6}$`).MatchString(stdout.String()) {
		t.Errorf("table without the runs' cells:\n%s", stdout.String())
	}
}
