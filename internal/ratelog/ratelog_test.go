package ratelog

import (
	"context"
	"fmt"
	"github.com/tiercache/tiercache/internal/syncbuf"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// buf is the log sink that tests read.
type buf struct{ syncbuf.Buffer }

func (b *buf) lines() []string {
	s := strings.TrimSpace(b.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// clock is a manual clock for state.now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newLogger(cfg Config) (*slog.Logger, *Handler, *buf, *clock) {
	out := &buf{}
	h := New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}), cfg)
	c := &clock{t: time.Unix(1e9, 0)}
	h.s.now = c.now
	return slog.New(h), h, out, c
}

func count(lines []string, sub string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

// A store-down flood: 13,000 identical errors in one interval write Burst
// lines, then one summary with the count of the rest; the next interval
// passes Burst again.
func TestFloodIsBounded(t *testing.T) {
	t.Parallel()
	log, h, out, clk := newLogger(Config{Burst: 5, Interval: time.Hour})
	for i := range 13000 {
		log.Error("cannot read user", "user", fmt.Sprint("u", i), "err", "store down")
	}
	lines := out.lines()
	if len(lines) != 5 {
		t.Fatalf("got %d lines; want 5:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	clk.add(time.Hour)
	log.Error("cannot read user", "user", "late")
	lines = out.lines()
	if len(lines) != 7 {
		t.Fatalf("got %d lines after the interval; want 7 (5, the summary, the new line):\n%s", len(lines), strings.Join(lines, "\n"))
	}
	if want := `level=ERROR msg="suppressed 12995 similar lines" like="cannot read user" interval=1h0m0s`; !strings.Contains(lines[5], want) {
		t.Errorf("got summary %q; want it to contain %q", lines[5], want)
	}
	if !strings.Contains(lines[6], "user=late") {
		t.Errorf("got %q; want the first line of the new interval", lines[6])
	}
	h.Flush()
	if got := len(out.lines()); got != 7 {
		t.Errorf("Flush with nothing suppressed wrote %d lines; want none", got-7)
	}
}

// Level and message make the kind; attributes and WithAttrs do not.
func TestKinds(t *testing.T) {
	t.Parallel()
	log, h, out, _ := newLogger(Config{Burst: 2, Interval: time.Hour})
	for range 10 {
		log.Error("a")
		log.Warn("a")
		log.Error("b")
		log.With("component", "x").Error("a", "k", "v")
	}
	lines := out.lines()
	if got := count(lines, "level=ERROR msg=a"); got != 2 {
		t.Errorf("got %d ERROR a lines; want 2 (With shares the limit)", got)
	}
	if got := count(lines, "level=WARN msg=a"); got != 2 {
		t.Errorf("got %d WARN a lines; want 2", got)
	}
	if got := count(lines, "level=ERROR msg=b"); got != 2 {
		t.Errorf("got %d ERROR b lines; want 2", got)
	}
	h.Flush()
	lines = out.lines()
	for _, want := range []string{
		`level=ERROR msg="suppressed 18 similar lines" like=a`,
		`level=WARN msg="suppressed 8 similar lines" like=a`,
		`level=ERROR msg="suppressed 8 similar lines" like=b`,
	} {
		if count(lines, want) != 1 {
			t.Errorf("after Flush: want one line with %q in:\n%s", want, strings.Join(lines, "\n"))
		}
	}
}

// The summary comes from the timer when no record ends the window.
func TestSummaryByTimer(t *testing.T) {
	t.Parallel()
	out := &buf{}
	log := slog.New(New(slog.NewTextHandler(out, nil), Config{Burst: 1, Interval: 50 * time.Millisecond}))
	for range 4 {
		log.Error("store down")
	}
	deadline := time.Now().Add(5 * time.Second)
	for count(out.lines(), "suppressed 3 similar lines") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no summary within 5s of a 50ms interval:\n%s", strings.Join(out.lines(), "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := len(out.lines()); got != 2 {
		t.Errorf("got %d lines; want 2 (one record, one summary)", got)
	}
}

// Concurrent loggers: nothing is lost from the count.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	log, h, out, _ := newLogger(Config{Burst: 3, Interval: time.Hour})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				log.Error("flood")
			}
		})
	}
	wg.Wait()
	h.Flush()
	lines := out.lines()
	if len(lines) != 4 || !strings.Contains(lines[3], "suppressed 7997 similar lines") {
		t.Errorf("got:\n%s\nwant 3 lines and a summary of 7997", strings.Join(lines, "\n"))
	}
}

// Disabled levels are not counted: Enabled is the next handler's.
func TestEnabled(t *testing.T) {
	t.Parallel()
	h := New(slog.NewTextHandler(&buf{}, nil), Config{})
	if h.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("got Enabled(debug) = true with an info handler; want false")
	}
}
