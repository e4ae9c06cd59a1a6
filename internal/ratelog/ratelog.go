package ratelog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Config sets the limit. Zero values take the defaults.
type Config struct {
	// Burst is how many records of one level and message pass per
	// Interval. Default 10.
	Burst int
	// Interval is the length of a counting window, which starts at the
	// first record of its kind. Default 1s.
	Interval time.Duration
}

// maxKinds bounds the counters kept: past it, finished windows are
// dropped, and if none has finished a new kind of record passes unlimited.
const maxKinds = 1024

// Handler is a rate-limiting slog.Handler; see the package documentation.
type Handler struct {
	next slog.Handler
	s    *state
}

var _ slog.Handler = (*Handler)(nil)

type state struct {
	root     slog.Handler // writes summaries: no attributes or groups
	burst    int
	interval time.Duration
	now      func() time.Time // time.Now; tests replace it

	mu    sync.Mutex
	kinds map[kind]*window
}

type kind struct {
	level slog.Level
	msg   string
}

// window counts the records of one kind since start.
type window struct {
	start      time.Time
	n          int
	suppressed int
	timer      *time.Timer // set while suppressed > 0
}

// New returns a Handler that passes what cfg allows to next.
func New(next slog.Handler, cfg Config) *Handler {
	if cfg.Burst <= 0 {
		cfg.Burst = 10
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	return &Handler{next: next, s: &state{
		root: next, burst: cfg.Burst, interval: cfg.Interval, now: time.Now,
		kinds: make(map[kind]*window),
	}}
}

// Enabled reports whether the next handler handles level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// WithAttrs returns a Handler with attrs that shares h's counters.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{next: h.next.WithAttrs(attrs), s: h.s}
}

// WithGroup returns a Handler with the group that shares h's counters.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), s: h.s}
}

// Handle passes r on unless Burst records of its level and message have
// passed in the current interval; then it counts r as suppressed.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	s := h.s
	k := kind{r.Level, r.Message}
	now := s.now()
	s.mu.Lock()
	w := s.kinds[k]
	var summary *slog.Record
	if w != nil && now.Sub(w.start) >= s.interval {
		// The window is over; its timer has not run yet.
		summary = s.endLocked(k, w, now)
		w = nil
	}
	if w == nil {
		if len(s.kinds) >= maxKinds {
			s.pruneLocked(now)
		}
		if len(s.kinds) >= maxKinds {
			s.mu.Unlock()
			return h.next.Handle(ctx, r)
		}
		w = &window{start: now}
		s.kinds[k] = w
	}
	w.n++
	pass := w.n <= s.burst
	if !pass {
		w.suppressed++
		if w.timer == nil {
			w.timer = time.AfterFunc(w.start.Add(s.interval).Sub(now), func() { s.expire(k, w) })
		}
	}
	s.mu.Unlock()
	if summary != nil {
		_ = s.root.Handle(ctx, *summary)
	}
	if !pass {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// expire ends w when its interval is over, if it is still the window of k.
func (s *state) expire(k kind, w *window) {
	s.mu.Lock()
	var summary *slog.Record
	if s.kinds[k] == w {
		summary = s.endLocked(k, w, s.now())
	}
	s.mu.Unlock()
	if summary != nil {
		_ = s.root.Handle(context.Background(), *summary)
	}
}

// endLocked drops the window w of k and returns the summary of what it
// suppressed, or nil.
func (s *state) endLocked(k kind, w *window, now time.Time) *slog.Record {
	delete(s.kinds, k)
	if w.timer != nil {
		w.timer.Stop()
	}
	if w.suppressed == 0 {
		return nil
	}
	r := slog.NewRecord(now, k.level, fmt.Sprintf("suppressed %d similar lines", w.suppressed), 0)
	r.AddAttrs(slog.String("like", k.msg), slog.Duration("interval", s.interval))
	return &r
}

// pruneLocked drops the finished windows that suppressed nothing.
func (s *state) pruneLocked(now time.Time) {
	for k, w := range s.kinds {
		if w.suppressed == 0 && now.Sub(w.start) >= s.interval {
			delete(s.kinds, k)
		}
	}
}

// Flush writes the summaries of the records suppressed so far and starts
// every kind afresh. Call it before the process exits, so that the count of
// the last interval is not lost.
func (h *Handler) Flush() {
	s := h.s
	s.mu.Lock()
	var summaries []slog.Record
	now := s.now()
	for k, w := range s.kinds {
		if r := s.endLocked(k, w, now); r != nil {
			summaries = append(summaries, *r)
		}
	}
	s.mu.Unlock()
	for _, r := range summaries {
		_ = s.root.Handle(context.Background(), r)
	}
}
