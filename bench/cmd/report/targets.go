package main

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// A verdict is how a measurement compares with its target.
type verdict int

const (
	unmeasured verdict = iota // the run has no result for it
	met
	missed
	// unjudged: a target that this run cannot judge, because its inputs are
	// absent or not from one run. Its row has no verdict and the summary
	// does not count it.
	unjudged
)

func (v verdict) String() string {
	switch v {
	case met:
		return "met"
	case missed:
		return "**missed**"
	case unjudged:
		return "–"
	}
	return "not measured"
}

// A target is one of docs/design.md's performance targets with this run's
// measurement. The verdict and every number are computed; the cause of a
// miss is prose kept with the target (what profiling found), filled with
// this run's numbers.
type target struct {
	name     string // the target, as docs/design.md states it
	short    string // its name in a sentence
	measured string
	verdict  verdict
	gap      string // how far a miss is from the target; why an unjudged one is not judged
	note     string // the cause of a miss, or the caveat of a pass
	// variant marks a target measured on a configuration other than the
	// default (the otter L1): its row has a verdict, but it is not one of
	// docs/design.md's targets, so the summary does not count it.
	variant bool
}

// targets evaluates docs/design.md's targets against r, the redis-benchmark runs
// of the same run, and the load tests (which `make loadtest-all` writes, in
// a run of its own).
func targets(r results, redis []redisRun, cores string, loads []loadRun) []target {
	var ts []target

	// The L1 hit on the default L1, ristretto, then on otter.
	rist, ott := r.ns("Core/l1-hit"), r.ns("Core/l1-hit-otter")
	t, allocates := l1HitTarget(r, "Core/l1-hit", target{name: "`core` L1 hit: 0 allocs/op, ≤ 100 ns/op", short: "the `core` L1 hit"})
	switch {
	case t.verdict != missed:
	case allocates:
		t.note = "a read allocates: core's allocation tests (`make allocs`) should have failed"
	default:
		t.note = "ristretto's Get (hashing the key, a time.Now for the TTL check)"
		if ott.ok && direction(ott, rist) < 0 {
			t.note += fmt.Sprintf("; the same read on the otter L1 takes %s", nsText(ott.median))
		}
	}
	ts = append(ts, t)
	if r.has("Core/l1-hit-otter") {
		t, allocates = l1HitTarget(r, "Core/l1-hit-otter", target{name: "`core` L1 hit with `-l1-backend otter` (not the default): 0 allocs/op, ≤ 100 ns/op",
			short: "the `core` L1 hit with `-l1-backend otter`", variant: true})
		switch {
		case t.verdict != missed:
		case allocates:
			t.note = "a read allocates: the otter tier's Get is documented not to, and core's own share is held to 0 by its allocation tests (`make allocs`)"
		default:
			t.note = "otter's Get, not profiled"
			if rist.ok {
				t.note += fmt.Sprintf("; ristretto's L1 hit takes %s in the same run", nsText(rist.median))
			}
		}
		ts = append(ts, t)
	}

	t = target{name: "HTTP L1 hit, in-memory listener: 0 allocs/op, ≤ 1.15× bare", short: "the HTTP L1 hit"}
	if v, ok := r.ratio("HTTP/l1-hit", "HTTP/bare"); ok {
		a := r.stat("HTTP/l1-hit", "allocs/op")
		t.measured = fmt.Sprintf("%s allocs/op, %s", num(a, 0), times(v, true))
		t.verdict = met
		if a.median > 0 || v > 1.15 {
			t.verdict = missed
			t.gap = fmt.Sprintf("%s bare", x(v))
			if a.median > 0 {
				t.gap = fmt.Sprintf("%s allocs per request", num(a, 0))
			}
		}
		hl1, hbare := r.ns("Handler/l1-hit"), r.ns("Handler/bare")
		wl1, wbare := r.ns("HTTP/l1-hit"), r.ns("HTTP/bare")
		switch {
		case !hl1.ok || !hbare.ok:
			if t.verdict == missed {
				t.note = fmt.Sprintf("a request that hits L1 costs %s more than the bare one (%s against %s); this run lacks the handler alone to say where",
					nsText(wl1.median-wbare.median), nsText(wl1.median), nsText(wbare.median))
			}
		case t.verdict == met:
			t.note = fmt.Sprintf("met because the in-memory-listener client dominates both sides: the bare request costs %s end to end, the bare handler %s; called directly, the L1 hit's handler takes %s bare",
				nsText(wbare.median), nsText(hbare.median), x(hl1.median/hbare.median))
		default:
			t.note = fmt.Sprintf("the handler's L1 hit costs %s over the bare handler's %s, which the client's %s per request no longer hides",
				nsText(hl1.median-hbare.median), nsText(hbare.median), nsText(wbare.median))
		}
	}
	ts = append(ts, t)
	ts = append(ts, loopbackTarget(loads))

	t = target{name: "register, bbolt, 64 clients: ≥ 10,000/s", short: "registration"}
	if s := r.stat("Register/tiers=L1+L2/clients=64", "creates/s"); s.ok {
		t.measured = rate(s)
		t.verdict = met
		if s.median < 10_000 {
			t.verdict = missed
			t.gap = perSec(s.median)
			t.note = fmt.Sprintf("bbolt's fsync: %s registrations shared each one", num(r.stat("Register/tiers=L1+L2/clients=64", "writes/commit"), 1))
		}
	}
	ts = append(ts, t)

	t = target{name: "stampede, 1,000 GETs of one uncached user: 1 store load", short: "the stampede"}
	if s := r.stat("Core/stampede", "store-loads/op"); s.ok {
		t.measured = num(s, 2) + " loads"
		if s.max > s.median {
			t.measured += fmt.Sprintf(" (at most %.2f)", s.max)
		}
		t.verdict = met
		if s.max > 1 {
			t.verdict = missed
			t.gap = fmt.Sprintf("up to %.2f store loads", s.max)
			t.note = "readers that missed were not coalesced into one load (singleflight in `core.Cache.Get`)"
		}
	}
	ts = append(ts, t)

	// L2 against redis-benchmark at the same connection count: rueidis
	// reads on one connection, with as many reads in flight as readers.
	for _, c := range []struct {
		bench    string
		readers  string
		pipeline int
	}{
		{"Core/l2-hit-redis", "GOMAXPROCS readers", 1},
		{"Core/l2-hit-redis-32g", "32 readers", 32},
	} {
		arg := "-c 1"
		if c.pipeline > 1 {
			arg = fmt.Sprintf("-c 1 -P %d", c.pipeline)
		}
		t = target{
			name:  fmt.Sprintf("L2 hit from Redis, 1 connection, %s: ≥ redis-benchmark `%s`", c.readers, arg),
			short: fmt.Sprintf("the L2 hit from Redis with %s", c.readers),
		}
		reads := perSecond(r.ns(c.bench))
		base, ok := redisBaseline(redis, 1, c.pipeline)
		if !reads.ok || !ok {
			if reads.ok {
				t.measured = perSec(reads.median, "reads") + "; no redis-benchmark in this run"
			}
			ts = append(ts, t)
			continue
		}
		v := reads.median / base.rps
		t.measured = fmt.Sprintf("%s, %s `%s`'s %s", perSec(reads.median, "reads"), x(v), arg, perSec(base.rps, "GETs"))
		t.verdict = met
		if v < 1 {
			t.verdict = missed
			t.gap = fmt.Sprintf("%s the GETs/s", x(v))
			cmds := r.stat(c.bench, "redis-cmds/op")
			if c.pipeline > 1 {
				t.note = fmt.Sprintf("each read is %s Redis commands%s where the baseline's is 1 GET: %s, %s its GETs/s; redis-server shares the %s cores with the client",
					num(cmds, 2), doCacheCmds(cmds), perSec(reads.median*cmds.median, "commands"), x(reads.median*cmds.median/base.rps), cores)
			} else {
				t.note = fmt.Sprintf("each read is a round trip of %s Redis commands%s where the baseline's is 1 GET (p50 %s ms); redis-server shares the %s cores with the client",
					num(cmds, 2), doCacheCmds(cmds), strconv.FormatFloat(base.p50, 'f', 3, 64), cores)
			}
		}
		ts = append(ts, t)
	}
	return append(ts, memoryTargets(r)...)
}

// l1HitTarget evaluates the target t of the L1 hit measured by name: 0
// allocs/op, ≤ 100 ns/op; allocates reports whether a read allocates. The
// cause of a miss is left to the caller, which knows the library.
func l1HitTarget(r results, name string, t target) (_ target, allocates bool) {
	s, a := r.ns(name), r.stat(name, "allocs/op")
	if !s.ok || !a.ok {
		return t, false
	}
	t.measured = fmt.Sprintf("%s allocs/op, %s", num(a, 0), dur(s))
	t.verdict = met
	var gaps []string
	if a.median > 0 {
		gaps = append(gaps, fmt.Sprintf("%s allocs per read", num(a, 0)))
	}
	if s.median > 100 {
		gaps = append(gaps, fmt.Sprintf("%s, %s over 100 ns", nsText(s.median), overBy(s.median, 100)))
	}
	if len(gaps) > 0 {
		t.verdict, t.gap = missed, strings.Join(gaps, "; ")
	}
	return t, a.median > 0
}

// The loopback target: the scenario and model of its load tests, the share
// of bare's requests/s that tiercache must reach, and how far apart the two
// may have started to count as one run (`make loadtest-all` runs every
// scenario against tiercache, then against bare: about 4 minutes at its
// default DURATION).
const (
	loopbackScenario = "read-only"
	loopbackModel    = "closed"
	loopbackShare    = 0.9
	// loadgenBound is the caveat of a met loopback target within 10% of bare.
	loadgenBound  = "a ratio this close to 1 can also mean that both servers answered as fast as the load generator, on its one core, could ask"
	sameRunWithin = time.Hour
)

// loopbackTarget evaluates the HTTP L1 hit over loopback: tiercache's
// requests/s in the read-only scenario (GETs of warmed users) under the
// closed model (each VU waits for its answer, so requests/s is what the
// server sustains) against the bare server's. The summaries are found by
// their fields, not their file names. Every claim of the row comes from
// the two summaries.
func loopbackTarget(loads []loadRun) target {
	t := target{
		name:    fmt.Sprintf("HTTP L1 hit over loopback, load generator on its own core: ≥ %.1f× bare's requests/s, same run", loopbackShare),
		short:   "the HTTP L1 hit over loopback",
		verdict: unjudged,
	}
	tc, okT := findLoadRun(loads, loopbackScenario, loopbackModel, "tiercache")
	bare, okB := findLoadRun(loads, loopbackScenario, loopbackModel, "bare")
	if !okT || !okB || bare.RPS <= 0 {
		t.measured = "not measured: run `" + loadtestCommand + "`"
		return t
	}
	v := tc.RPS / bare.RPS
	t.measured = fmt.Sprintf("%s vs bare %s = %s", perSec(tc.RPS, "req"), perSec(bare.RPS, "req"), x(v))
	if tc.Cache != nil {
		t.measured += ", hit ratio " + pctText(tc.Cache.HitRatio)
	}
	t.measured += fmt.Sprintf(" (`%s`: %s, %s model, %s, started %s)", loadtestCommand, loopbackScenario, loopbackModel, plural(tc.VUs, "VU"), tc.Started)
	if why := notOneRun(tc, bare); why != "" {
		t.gap, t.note = "not the same run", why
		return t
	}

	var notes []string
	t.verdict = met
	if v < loopbackShare {
		t.verdict = missed
		t.gap = fmt.Sprintf("%s bare's requests/s", x(v))
		notes = append(notes, notL1Text(tc))
		if m := sharedMachine(tc); m != "" {
			notes = append(notes, m)
		}
	} else if v <= 1/loopbackShare {
		// Within 10% of each other, both may have been as fast as the one
		// load generator could ask.
		notes = append(notes, loadgenBound)
	}
	if tc.Errors > 0 || bare.Errors > 0 {
		notes = append(notes, fmt.Sprintf("requests/s include failed requests: error rate %s for tiercache, %s for bare",
			pctText(tc.ErrorRate), pctText(bare.ErrorRate)))
	}
	t.note = strings.Join(notes, "; ")
	return t
}

// notOneRun says why the summaries a and b are not from one run, or "".
func notOneRun(a, b loadRun) string {
	ta, errA := time.Parse(time.RFC3339, a.Started)
	tb, errB := time.Parse(time.RFC3339, b.Started)
	if errA != nil || errB != nil {
		return fmt.Sprintf("cannot tell whether the summaries are from one run: %s's started %q, %s's %q; rerun `%s`",
			a.Label, a.Started, b.Label, b.Started, loadtestCommand)
	}
	d := ta.Sub(tb).Abs()
	if d <= sameRunWithin {
		return ""
	}
	return fmt.Sprintf("not the same run: %s's summary started %s, %s's %s, %s apart; rerun `%s`",
		a.Label, a.Started, b.Label, b.Started, strings.TrimSuffix(d.Round(time.Minute).String(), "0s"), loadtestCommand)
}

// notL1Text is the share of l's GETs that L1 did not answer, from its
// cache counts: 1 - l1/(l1+l2+miss).
func notL1Text(l loadRun) string {
	c := l.Cache
	if c == nil || c.L1+c.L2+c.Miss == 0 {
		return "the summary has no cache counts to tell L1 hits from the other GETs"
	}
	n := float64(c.L1 + c.L2 + c.Miss)
	if c.L1 == c.L1+c.L2+c.Miss {
		return "every GET was an L1 hit, so the gap is tiercache's own L1 hit path against the bare handler"
	}
	return fmt.Sprintf("%s of the GETs were not L1 hits (%s from L2, %s from the store), and each costs more than an L1 hit",
		pctText(1-float64(c.L1)/n), pctText(float64(c.L2)/n), pctText(float64(c.Miss)/n))
}

// sharedMachine says that the load generator and the server of l shared
// one machine, when its target is a loopback address; the summaries do not
// record how either was pinned.
func sharedMachine(l loadRun) string {
	u, err := url.Parse(l.Target)
	if err != nil {
		return ""
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return ""
	}
	return fmt.Sprintf("tiercache and the load generator shared one machine of %s (target %s); the summaries do not record how each was pinned",
		plural(l.Cores, "core"), l.Target)
}

// overBy is how much v exceeds limit, in percent: "1.2%".
func overBy(v, limit float64) string {
	p := 100 * (v/limit - 1)
	if p < 10 {
		return fmt.Sprintf("%.1f%%", p)
	}
	return fmt.Sprintf("%.0f%%", p)
}

func renderTargets(b *strings.Builder, ts []target) {
	b.WriteString("## docs/design.md targets\n\n")
	tb := table{head: []string{"target", "measured", "verdict", "cause of a miss, caveat of a pass"}}
	var nmet, nmeasured, nuncounted int
	var misses, variants, unjudgedTs []string
	for _, t := range ts {
		measured := t.measured
		if measured == "" {
			measured = "–"
		}
		tb.add(t.name, measured, t.verdict.String(), t.note)
		if t.verdict == unjudged {
			nuncounted++
			if t.gap != "" {
				unjudgedTs = append(unjudgedTs, t.short+" ("+t.gap+")")
			}
			continue
		}
		if t.variant {
			nuncounted++
			switch t.verdict {
			case met:
				variants = append(variants, t.short+" is met ("+t.measured+")")
			case missed:
				variants = append(variants, t.short+" is missed ("+t.gap+")")
			}
			continue
		}
		switch t.verdict {
		case met:
			nmet++
			nmeasured++
		case missed:
			nmeasured++
			misses = append(misses, t.short+" ("+t.gap+")")
		}
	}
	tb.write(b)
	if nmeasured == 0 {
		return
	}
	b.WriteString(whatThisMeans)
	fmt.Fprintf(b, "%d of the %d targets measured are met", nmet, nmeasured)
	if n := len(ts) - nuncounted - nmeasured; n > 0 {
		fmt.Fprintf(b, " (%s not measured)", plural(n, "target"))
	}
	if len(misses) > 0 {
		fmt.Fprintf(b, "; missed: %s", list(misses))
	}
	if len(unjudgedTs) > 0 {
		fmt.Fprintf(b, "; not judged: %s", list(unjudgedTs))
	}
	if len(variants) > 0 {
		fmt.Fprintf(b, ". Measured on a configuration other than the default, and not counted: %s", list(variants))
	}
	b.WriteString(". A miss stays in the table, with its cause, until a run meets it: the target does not move.\n\n")
}

// doCacheCmds names the commands of a read when cmds says that it went
// through rueidis' client-side cache, as in runs from before the Redis
// tier read with one command, and is "" otherwise.
func doCacheCmds(cmds stat) string {
	if cmds.ok && cmds.median > 4.5 {
		return " (CLIENT CACHING YES, MULTI, PTTL, GET, EXEC, and rueidis' bookkeeping of its client-side cache)"
	}
	return ""
}
