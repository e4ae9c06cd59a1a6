// Package ratelog is a slog.Handler that limits how often similar lines are
// written: per level and message, at most Burst records pass in each
// Interval; the rest are counted, and when the interval ends one line says
// how many were suppressed.
//
// Why: a failure that every request meets (the store down, a flood of bad
// requests) would otherwise write one line per request, thousands a second,
// filling the disk and burying the first, useful line. Attributes are not
// part of the key, so "cannot read user" for a thousand different users is
// one kind of line.
//
// A Handler and the handlers derived from it by WithAttrs and WithGroup
// share one set of counters and are safe for concurrent use. Summaries are
// written by a timer at the end of an interval, or by Flush.
package ratelog
