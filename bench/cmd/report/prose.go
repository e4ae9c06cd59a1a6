package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The "What this means" paragraphs. Every number in them comes from the
// results, and every sentence whose claim depends on the direction of a
// comparison is chosen by computing that direction, so that a run with
// other numbers cannot print a false sentence. A function returns the
// sentences it has the data for, none when it has none.

// noise is the smallest relative difference that counts as one: below it,
// repeating the run could reverse the comparison.
const noise = 0.05

// direction compares a with b: 1 when a is larger by more than the noise,
// -1 when smaller, 0 for a tie. The noise is the larger spread of the two
// (the largest deviation of one repetition from its median), at least 5%.
func direction(a, b stat) int {
	tol := max(noise, a.spread, b.spread)
	switch {
	case a.median > b.median*(1+tol):
		return 1
	case a.median < b.median*(1-tol):
		return -1
	}
	return 0
}

// costThan phrases how cost a compares with cost b: "28× less than",
// "about as much as", "1.30× as much as".
func costThan(a, b stat) string {
	switch direction(a, b) {
	case -1:
		return x(b.median/a.median) + " less than"
	case 1:
		return x(a.median/b.median) + " as much as"
	}
	return "about as much as"
}

// stampedeReaders is bench's stampede: 1,000 concurrent GETs of one user.
const stampedeReaders = 1000

// stampedeStoreDelay is the latency of the stampede's store, in ns.
const stampedeStoreDelay = 1e6

func pathsProse(r results) []string {
	var s []string
	l1, neg := r.ns("Core/l1-hit"), r.ns("Core/negative-l1")
	local, redis := r.ns("Core/l2-hit-local"), r.ns("Core/l2-hit-redis")
	mem, bolt := r.ns("Core/store-memory"), r.ns("Core/store-bolt")

	// l2-hit-local is in runs from before the Redis tier stopped reading
	// through rueidis' client-side cache; later runs lack it.
	if l1.ok && redis.ok {
		sent := fmt.Sprintf("An L1 hit costs %s in `core`, %s a read from Redis (%s)",
			nsText(l1.median), costThan(l1, redis), nsText(redis.median))
		if local.ok {
			sent = fmt.Sprintf("An L1 hit costs %s in `core`, %s an L2 hit from rueidis' client-side cache (%s) and %s a read from Redis (%s)",
				nsText(l1.median), costThan(l1, local), nsText(local.median), costThan(l1, redis), nsText(redis.median))
		}
		if neg.ok {
			switch direction(neg, l1) {
			case 0:
				sent += fmt.Sprintf("; a negative hit costs about the same (%s), so an unknown name is refused as cheaply as a known one is served", nsText(neg.median))
			default:
				sent += fmt.Sprintf("; a negative hit costs %s, %s a hit", nsText(neg.median), costThan(neg, l1))
			}
		}
		s = append(s, sent+".")
	}

	if redis.ok && mem.ok && bolt.ok {
		sent := fmt.Sprintf("Without L1, an L2 hit costs %s a load from the in-process memory store (%s) and %s a load from bbolt (%s)",
			costThan(redis, mem), nsText(mem.median), costThan(redis, bolt), nsText(bolt.median))
		if local.ok {
			sent = fmt.Sprintf("Without L1, an L2 hit from the client-side cache costs %s a load from the in-process memory store (%s), and one from Redis %s a load from bbolt (%s)",
				costThan(local, mem), nsText(mem.median), costThan(redis, bolt), nsText(bolt.median))
		}
		switch {
		case direction(redis, bolt) > 0 && direction(redis, mem) > 0:
			sent += ": in front of these in-process stores, L2 buys one copy shared by every instance, not speed"
		case direction(redis, bolt) < 0:
			sent += ": L2 is faster than the disk store even when it has to ask Redis"
		}
		s = append(s, sent+".")
	}

	hl1, hbare := r.ns("Handler/l1-hit"), r.ns("Handler/bare")
	wl1, wbare := r.ns("HTTP/l1-hit"), r.ns("HTTP/bare")
	if hl1.ok && hbare.ok && wl1.ok && wbare.ok {
		hx, wx := hl1.median/hbare.median, wl1.median/wbare.median
		sent := fmt.Sprintf("The ceiling is the bare handler, %s called directly and %s over HTTP: the L1 hit's handler takes %s the bare one called directly",
			nsText(hbare.median), nsText(wbare.median), x(hx))
		if hx > wx*(1+noise) && wbare.median > 2*hbare.median {
			sent += fmt.Sprintf(", but only %s over HTTP, where the in-memory-listener client, paid on both sides, costs %s the bare handler per request", x(wx), x(wbare.median/hbare.median))
		} else {
			sent += fmt.Sprintf(", and %s over HTTP", x(wx))
		}
		s = append(s, sent+".")
	}

	r32 := r.ns("Core/l2-hit-redis-32g")
	if redis.ok && r32.ok {
		cmds := r.stat("Core/l2-hit-redis-32g", "redis-cmds/op")
		switch direction(redis, r32) {
		case 1:
			sent := fmt.Sprintf("Reads from Redis wait on round trips over rueidis' one connection: 32 concurrent readers instead of GOMAXPROCS get %s the reads per second (%s of wall time per read)",
				x(redis.median/r32.median), nsText(r32.median))
			if cmds.ok {
				sent += fmt.Sprintf(", or %s at %s commands per read", perSec(1e9/r32.median*cmds.median, "Redis commands"), num(cmds, 2))
			}
			s = append(s, sent+".")
		default:
			s = append(s, fmt.Sprintf("32 concurrent readers on rueidis' one connection get no more reads per second than GOMAXPROCS readers (%s against %s per read): the connection, or redis-server behind it, is saturated.",
				nsText(r32.median), nsText(redis.median)))
		}
	}
	return s
}

func stampedeProse(r results, cores string) []string {
	const name = "Core/stampede"
	loads, coal, t := r.stat(name, "store-loads/op"), r.stat(name, "coalesced/op"), r.ns(name)
	if !loads.ok || !t.ok {
		return nil
	}
	var s []string
	if loads.max <= 1 {
		sent := fmt.Sprintf("%s concurrent reads of one uncached user made %s store load per stampede", thousands(stampedeReaders), num(loads, 2))
		if coal.ok {
			who := fmt.Sprintf("%s of the %s readers", num(coal, 0), thousands(stampedeReaders))
			if coal.median >= stampedeReaders {
				who = fmt.Sprintf("all %s readers", thousands(stampedeReaders))
			}
			sent += fmt.Sprintf(", and %s got the answer of that one shared load", who)
		}
		s = append(s, sent+".")
	} else {
		s = append(s, fmt.Sprintf("%s concurrent reads of one uncached user made up to %.2f store loads per stampede: some misses were not coalesced.",
			thousands(stampedeReaders), loads.max))
	}
	sent := fmt.Sprintf("A stampede takes %s, %s the store's %s read", nsText(t.median), x(t.median/stampedeStoreDelay), nsShort(stampedeStoreDelay))
	if cmds := r.stat(name, "redis-cmds/op"); cmds.ok && t.median > stampedeStoreDelay {
		sent += fmt.Sprintf("; the rest is the L2 miss and fill (%s Redis commands) and waking %s goroutines on %s cores", num(cmds, 2), thousands(stampedeReaders), cores)
	}
	return append(s, sent+".")
}

// An effect is how one set of tiers compares with another on a workload.
type effect struct {
	dist  string
	ratio float64 // requests/s of a over b's
	dir   int     // direction(a, b)
	a     string  // the benchmark of a
}

// effects compares the requests/s of the configs a and b (tiers and L1
// size, "L1", "10%") on every workload of users.
func effects(r results, cs configSet, users string, a, b [2]string) []effect {
	var es []effect
	for _, d := range cs.dists {
		na, nb := cfgName(users, d, a[0], a[1]), cfgName(users, d, b[0], b[1])
		sa, sb := r.stat(na, "req/s"), r.stat(nb, "req/s")
		if !sa.ok || !sb.ok || sb.median == 0 {
			continue
		}
		es = append(es, effect{dist: distOf(d), ratio: sa.median / sb.median, dir: direction(sa, sb), a: na})
	}
	return es
}

// split groups effects by direction, each phrased by f.
func split(es []effect, f func(effect) string) (up, down, same []string) {
	for _, e := range es {
		switch e.dir {
		case 1:
			up = append(up, f(e))
		case -1:
			down = append(down, f(e))
		default:
			same = append(same, f(e))
		}
	}
	return up, down, same
}

func configsProse(r results, cs configSet, users string) []string {
	sizes := cs.l1Sizes()
	if len(sizes) == 0 {
		return nil
	}
	big := sizes[len(sizes)-1]
	var s []string

	// What L1 buys over no cache.
	es := effects(r, cs, users, [2]string{"L1", big}, [2]string{"none", "0%"})
	up, down, same := split(es, func(e effect) string {
		return fmt.Sprintf("%s on %s (%s L1 hits)", x(e.ratio), e.dist, pct(r.stat(e.a, "l1-hit-ratio")))
	})
	if len(es) > 0 {
		var parts []string
		if len(up) > 0 {
			parts = append(parts, "raises requests/s over no cache "+list(up))
		}
		if len(down) > 0 {
			allocs := func(e effect) string {
				return fmt.Sprintf("%s on %s (%s L1 hits, %s allocs per read against %s)", x(e.ratio), e.dist,
					pct(r.stat(e.a, "l1-hit-ratio")), num(r.stat(e.a, "allocs/op"), 0),
					num(r.stat(cfgName(users, "dist="+e.dist, "none", "0%"), "allocs/op"), 0))
			}
			var downs []string
			for _, e := range es {
				if e.dir < 0 {
					downs = append(downs, allocs(e))
				}
			}
			p := "lowers them to "
			if len(up) == 0 {
				p = "lowers requests/s against no cache to "
			}
			parts = append(parts, p+list(downs)+", where each miss pays singleflight and ristretto's admission on top of the store load")
		}
		if len(same) > 0 {
			parts = append(parts, "changes nothing measurable on "+list(same))
		}
		sep := "; it "
		if len(up) > 0 && len(down) > 0 {
			sep = ", but "
		}
		s = append(s, fmt.Sprintf("An L1 holding %s of the users %s.", big, strings.Join(parts, sep)))
	}

	// What L2 alone does against no cache.
	es = effects(r, cs, users, [2]string{"L2", "0%"}, [2]string{"none", "0%"})
	if len(es) > 0 {
		lo, hi := es[0].ratio, es[0].ratio
		allDown := true
		for _, e := range es {
			lo, hi = min(lo, e.ratio), max(hi, e.ratio)
			allDown = allDown && e.dir < 0
		}
		if allDown {
			sent := fmt.Sprintf("L2 alone is slower than no cache on every workload (%s to %s the requests/s): the store here is an in-process map, which answers before a Redis round trip could", x(lo), x(hi))
			if c := r.stat(cfgName(users, cs.dists[0], "L2", "0%"), "redis-cmds/op"); c.ok {
				sent += fmt.Sprintf(", and every L2 read is a Redis round trip (%s commands per read on %s)", num(c, 2), distOf(cs.dists[0]))
			}
			s = append(s, sent+".")
		} else {
			items := make([]string, len(es))
			for i, e := range es {
				items[i] = fmt.Sprintf("%s on %s", x(e.ratio), e.dist)
			}
			s = append(s, fmt.Sprintf("L2 alone reaches %s the requests/s of no cache.", list(items)))
		}
	}

	// What L1 adds in front of L2.
	es = effects(r, cs, users, [2]string{"L1+L2", big}, [2]string{"L2", "0%"})
	up, down, same = split(es, func(e effect) string { return fmt.Sprintf("%s on %s", x(e.ratio), e.dist) })
	if len(es) > 0 {
		var parts []string
		if len(up) > 0 {
			parts = append(parts, "multiplies L2's requests/s by "+list(up))
		}
		if len(down) > 0 {
			if len(up) > 0 {
				parts = append(parts, "brings them to "+list(down))
			} else {
				parts = append(parts, "brings L2's requests/s to "+list(down))
			}
		}
		if len(same) > 0 {
			parts = append(parts, "changes nothing measurable on "+list(same))
		}
		s = append(s, fmt.Sprintf("In front of L2, the same L1 %s.", strings.Join(parts, ", and ")))
	}

	// The ceiling: the best config, and what its time goes to.
	var best string
	var bestRate stat
	for _, d := range cs.dists {
		for _, c := range cs.configs {
			name := "Configs/" + users + "/" + d + "/" + c
			if v := r.stat(name, "req/s"); v.ok && v.median > bestRate.median {
				best, bestRate = name, v
			}
		}
	}
	if best == "" {
		return s
	}
	parts := strings.Split(strings.TrimPrefix(best, "Configs/"), "/")
	tiers := strings.TrimPrefix(parts[2], "tiers=")
	// The cost of an L1 hit on the library of the best config.
	l1, lib := r.ns("Core/l1-hit"), "`core`"
	if tiers == otterTiers {
		l1, lib = r.ns("Core/l1-hit-otter"), "`core`, otter"
	}
	hit := r.stat(best, "l1-hit-ratio")
	if l1.ok && hit.ok {
		ns := r.ns(best)
		sent := fmt.Sprintf("The fastest here is %s on %s: %s, %s per read",
			configLabel(tiers, strings.TrimPrefix(parts[3], "l1=")),
			distOf(parts[1]), perSec(bestRate.median), nsText(ns.median))
		share := hit.median * l1.median / ns.median
		if share < 0.5 {
			sent += fmt.Sprintf(". At %s per L1 hit (%s), the %s of reads that hit take at most %.0f%% of that time; the %s that miss take the rest, so misses, not L1, set the ceiling",
				nsText(l1.median), lib, pctText(hit.median), 100*share, pctText(1-hit.median))
		} else {
			sent += fmt.Sprintf(". At %s per L1 hit (%s), the %s of reads that hit take %.0f%% of that time: L1 itself sets the ceiling",
				nsText(l1.median), lib, pctText(hit.median), 100*min(share, 1))
		}
		s = append(s, sent+".")
	}
	return s
}

// userCount is 100000 for "users=100k".
func userCount(u string) float64 {
	n := usersOf(u)
	mult := 1.0
	switch {
	case strings.HasSuffix(n, "k"):
		n, mult = strings.TrimSuffix(n, "k"), 1e3
	case strings.HasSuffix(n, "M"):
		n, mult = strings.TrimSuffix(n, "M"), 1e6
	}
	v, _ := strconv.ParseFloat(n, 64)
	return v * mult
}

// configLabel names a set of tiers in a sentence: "L1 alone at 10%".
func configLabel(tiers, size string) string {
	switch tiers {
	case "none":
		return "no cache"
	case "L1":
		return "L1 alone at " + size
	case "L2":
		return "L2 alone"
	case otterTiers:
		return "L1 (otter)+L2 with L1 at " + size
	}
	return tiers + " with L1 at " + size
}

// l1HitRatio is the L1 hit ratio of the L1-only config, or of L1+L2 when
// the run has no L1-only one.
func l1HitRatio(r results, users, dist, size string) stat {
	if s := r.stat(cfgName(users, dist, "L1", size), "l1-hit-ratio"); s.ok {
		return s
	}
	return r.stat(cfgName(users, dist, "L1+L2", size), "l1-hit-ratio")
}

// combined is the share of reads that L1+L2 answered, without the store,
// over every config with both tiers (either L1 library): its least and
// greatest.
func combined(r results, cs configSet) (lo, hi float64, ok bool) {
	lo = math.Inf(1)
	for _, u := range cs.users {
		for _, d := range cs.dists {
			for _, size := range cs.l1Sizes() {
				for _, tiers := range []string{"L1+L2", otterTiers} {
					name := cfgName(u, d, tiers, size)
					h1, h2 := r.stat(name, "l1-hit-ratio"), r.stat(name, "l2-hit-ratio")
					if !h1.ok || !h2.ok {
						continue
					}
					v := 1 - (1-h1.median)*(1-h2.median)
					lo, hi, ok = min(lo, v), max(hi, v), true
				}
			}
		}
	}
	return lo, hi, ok
}

func hitRatioCaption(r results, cs configSet) string {
	c := "L1 hit ratio against L1 size (share of the users it holds), one line per workload; solid 100k users, dashed 1M."
	for _, l := range hitRatioLines(r, cs) {
		if l.style == dotted {
			c = strings.TrimSuffix(c, ".") + fmt.Sprintf("; dotted with triangles, the otter L1 with %s users (in L1 (otter)+L2, the only set of tiers it runs in).", usersOf(cs.users[0]))
			break
		}
	}
	if lo, hi, ok := combined(r, cs); ok {
		if lo > 0.9995 {
			c += " With L2 behind it, L1+L2 answer every read without the store (" + pctText(lo) + " in every configuration)."
		} else {
			c += fmt.Sprintf(" With L2 behind it, L1+L2 answer %s to %s of reads without the store.", pctText(lo), pctText(hi))
		}
	}
	return c
}

func hitRatioProse(r results, cs configSet) []string {
	sizes := cs.l1Sizes()
	if len(sizes) < 2 || len(cs.users) == 0 {
		return nil
	}
	small, big := sizes[0], sizes[len(sizes)-1]
	u := cs.users[0]
	var s []string
	var skewed, flat []string
	var skewOrdered = true
	var prev [2]float64 // the hit ratios of the previous workload
	for i, d := range cs.dists {
		a, b := l1HitRatio(r, u, d, small), l1HitRatio(r, u, d, big)
		if !a.ok || !b.ok {
			continue
		}
		if math.Abs(a.median-sizePct(small)/100) < 0.01 && math.Abs(b.median-sizePct(big)/100) < 0.01 {
			flat = append(flat, fmt.Sprintf("%s (%s, %s)", distOf(d), pct(a), pct(b)))
		} else {
			skewed = append(skewed, fmt.Sprintf("from %s to %s on %s", pct(a), pct(b), distOf(d)))
		}
		if i > 0 && (a.median <= prev[0] || b.median <= prev[1]) {
			skewOrdered = false
		}
		prev = [2]float64{a.median, b.median}
	}
	if len(skewed) > 0 {
		sent := fmt.Sprintf("With %s users, %g times the L1 (%s → %s of the users) raises its hit ratio %s", usersOf(u),
			sizePct(big)/sizePct(small), small, big, list(skewed))
		if len(flat) > 0 {
			sent += fmt.Sprintf(", while on %s it only matches the L1's size", list(flat))
		}
		sent += "."
		if skewOrdered && len(flat) > 0 {
			sent += " An L1 hits more than its size only on skewed reads, and the more skewed the more."
		}
		s = append(s, sent)
	}

	// A larger data set at the same share of users.
	if len(cs.users) > 1 {
		v := cs.users[len(cs.users)-1]
		var diffs []float64
		for _, d := range cs.dists {
			for _, size := range sizes {
				a, b := l1HitRatio(r, u, d, size), l1HitRatio(r, v, d, size)
				if !a.ok || !b.ok || math.Abs(a.median-sizePct(size)/100) < 0.01 {
					continue // uniform: the ratio is the size
				}
				diffs = append(diffs, 100*(b.median-a.median))
			}
		}
		if len(diffs) > 0 {
			lo, hi := slices.Min(diffs), slices.Max(diffs)
			more := fmt.Sprintf("%s times as many users", strconv.FormatFloat(userCount(v)/userCount(u), 'g', 3, 64))
			switch {
			case lo > 1:
				s = append(s, fmt.Sprintf("With %s users, an L1 holding the same share of them hits %.1f to %.1f points more on the skewed workloads: it holds %s, and under Zipf the hit ratio follows how many users L1 holds more than what share.",
					usersOf(v), lo, hi, more))
			case hi < -1:
				s = append(s, fmt.Sprintf("With %s users, an L1 holding the same share of them hits %.1f to %.1f points less on the skewed workloads, although it holds %s.",
					usersOf(v), -hi, -lo, more))
			}
		}
	}
	return s
}

func registerProse(r results) []string {
	one, many := "Register/tiers=L1+L2/clients=1", "Register/tiers=L1+L2/clients=64"
	bare1, bare64 := "Register/tiers=none/clients=1", "Register/tiers=none/clients=64"
	c1, c64 := r.stat(one, "creates/s"), r.stat(many, "creates/s")
	wpc := r.stat(many, "writes/commit")
	var s []string
	if c1.ok && c64.ok && wpc.ok {
		if wpc.median >= 1.5 {
			s = append(s, fmt.Sprintf("Group commit is what lifts registrations: with 64 clients, %s registrations share each fsync and the server with both tiers registers %s, %s the %s of one client, which waits for its own fsync every time (%s per registration).",
				num(wpc, 1), perSec(c64.median, "users"), x(c64.median/c1.median), perSec(c1.median), nsText(r.ns(one).median)))
		} else {
			s = append(s, fmt.Sprintf("Group commit did not engage: with 64 clients only %s registrations shared each fsync, and the server with both tiers registers %s against %s for one client.",
				num(wpc, 1), perSec(c64.median, "users"), perSec(c1.median)))
		}
	}
	n64 := r.stat(bare64, "creates/s")
	if c64.ok && n64.ok {
		cmds := r.stat(many, "redis-cmds/op")
		switch direction(c64, n64) {
		case -1:
			sent := "The tiers cost registrations"
			if cmds.ok {
				sent += fmt.Sprintf(": each also writes Redis (%s commands)", num(cmds, 1))
			}
			s = append(s, sent+fmt.Sprintf(", and 64 clients reach %s the %s of the store alone.", x(c64.median/n64.median), perSec(n64.median)))
		case 0:
			s = append(s, fmt.Sprintf("The tiers cost registrations nothing measurable: 64 clients reach %s with them and %s without.", perSec(c64.median), perSec(n64.median)))
		default:
			s = append(s, fmt.Sprintf("64 clients register faster with the tiers (%s) than without (%s).", perSec(c64.median), perSec(n64.median)))
		}
	}
	t1, t64 := r.ns(bare1), r.ns(bare64)
	if w := r.stat(bare64, "writes/commit"); t1.ok && t64.ok && t64.median < t1.median && w.median >= 1.5 {
		s = append(s, fmt.Sprintf("What limits the rest is the fsync that every commit waits for: without tiers, a lone registration takes %s, and 64 clients bring the time per registration down to %s only by sharing commits.",
			nsText(t1.median), nsText(t64.median)))
	}
	return s
}

func writesProse(r results) []string {
	upd, del := "Write/update", "Write/delete-register"
	tu, td := r.ns(upd), r.ns(del)
	if !tu.ok {
		return nil
	}
	cu := r.stat(upd, "redis-cmds/op")
	sent := fmt.Sprintf("An update and its read-back cost %s per op across 16 goroutines (%s), with %s Redis commands and %s invalidation",
		nsText(tu.median), perSec(r.stat(upd, "writes/s").median, "writes"), num(cu, 1), num(r.stat(upd, "invalidations/op"), 2))
	if td.ok {
		sent += fmt.Sprintf("; a delete and re-register costs %s, %s commands and %s invalidations",
			nsText(td.median), num(r.stat(del, "redis-cmds/op"), 1), num(r.stat(del, "invalidations/op"), 2))
	}
	s := []string{sent + "."}
	if read := r.stat("Core/l2-hit-redis", "redis-cmds/op"); read.ok && cu.ok && read.median > 0 {
		s = append(s, fmt.Sprintf("What limits writes is Redis: an update makes %s the commands of an L2 read from Redis (%s), all on rueidis' one connection.",
			x(cu.median/read.median), num(read, 2)))
	}
	return s
}

func redisProse(r results, runs []redisRun) []string {
	c1, ok1 := redisBaseline(runs, 1, 1)
	p, okp := pipelined(runs)
	var s []string
	if ok1 && okp {
		sent := fmt.Sprintf("On one connection redis-server answers %s one at a time and %s with %d pipelined (%s)",
			perSec(c1.rps, "GETs"), perSec(p.rps, "GETs"), p.pipeline, x(p.rps/c1.rps))
		for _, run := range runs {
			if run.conns > 1 && run.pipeline == 1 {
				sent += fmt.Sprintf("; %d connections get %s", run.conns, perSec(run.rps, "GETs"))
				break
			}
		}
		s = append(s, sent+".")
	}
	r32, cmds := r.ns("Core/l2-hit-redis-32g"), r.stat("Core/l2-hit-redis-32g", "redis-cmds/op")
	if okp && r32.ok && cmds.ok && cmds.median > 0 {
		reads := 1e9 / r32.median
		ceiling := p.rps / cmds.median
		s = append(s, fmt.Sprintf("rueidis sends every read on one connection, pipelined, so the pipelined rate bounds L2 in commands: at %s commands per read that is %s, and 32 readers reach %s, %s that figure.",
			num(cmds, 2), perSec(ceiling, "reads"), perSec(reads, "reads"), x(reads/ceiling)))
	}
	return s
}

// pipelined is the one-connection run with the deepest pipeline.
func pipelined(runs []redisRun) (redisRun, bool) {
	var best redisRun
	for _, run := range runs {
		if run.conns == 1 && run.pipeline > 1 && run.pipeline > best.pipeline {
			best = run
		}
	}
	return best, best.pipeline > 1
}

// otterProse compares the two L1 libraries: the cost of an L1 hit on each,
// then requests/s, L1 hit ratio and allocations of the configs that put
// either in front of L2, sized for the same share of the users. It returns
// nothing when the run did not measure otter.
func otterProse(r results, cs configSet) []string {
	var s []string
	rist, ott := r.ns("Core/l1-hit"), r.ns("Core/l1-hit-otter")
	if rist.ok && ott.ok {
		sent := fmt.Sprintf("With `-l1-backend otter`, an L1 hit costs %s in `core`, %s ristretto's %s",
			nsText(ott.median), costThan(ott, rist), nsText(rist.median))
		for _, f := range []struct{ family, where string }{
			{"Handler", "called directly, the handler takes"},
			{"HTTP", "over HTTP, a request takes"},
		} {
			if a, b := r.ns(f.family+"/l1-hit-otter"), r.ns(f.family+"/l1-hit"); a.ok && b.ok {
				sent += fmt.Sprintf("; %s %s, %s ristretto's %s", f.where, nsText(a.median), costThan(a, b), nsText(b.median))
			}
		}
		// A difference that the client's cost hides end to end.
		wa, wb, bare := r.ns("HTTP/l1-hit-otter"), r.ns("HTTP/l1-hit"), r.ns("HTTP/bare")
		if direction(ott, rist) != 0 && wa.ok && wb.ok && bare.ok && direction(wa, wb) == 0 {
			sent += fmt.Sprintf(": the %s between them in `core` are lost in the %s of a bare request over HTTP",
				nsText(math.Abs(rist.median-ott.median)), nsText(bare.median))
		}
		s = append(s, sent+".")
		aa, ab := r.stat("Core/l1-hit-otter", "allocs/op"), r.stat("Core/l1-hit", "allocs/op")
		switch {
		case !aa.ok || !ab.ok:
		case aa.median == 0 && ab.median == 0:
			s = append(s, "Neither library allocates on an L1 hit.")
		default:
			s = append(s, fmt.Sprintf("An L1 hit in `core` allocates %s times on otter and %s on ristretto.", num(aa, 0), num(ab, 0)))
		}
	}

	ps := otterPairs(r, cs)
	if t := tallyOf(r, ps, "req/s", func(a, b stat) string { return x(a.median / b.median) }); t.n > 0 {
		s = append(s, "With L2 behind both and L1 sized for the same share of the users, otter serves "+
			t.text("configurations measured with both",
				[3]string{"more requests/s than ristretto", "fewer requests/s than ristretto", "as many requests/s as ristretto"},
				[3]string{"more", "fewer", "as many"})+".")
	}
	if t := tallyOf(r, ps, "l1-hit-ratio", func(a, b stat) string { return pct(a) + " against " + pct(b) }); t.n > 0 {
		s = append(s, "Its L1 hit ratio is "+
			t.text("configurations",
				[3]string{"higher than ristretto's", "lower than ristretto's", "the same as ristretto's"},
				[3]string{"higher", "lower", "the same"})+".")
	}
	if t := tallyOf(r, ps, "allocs/op", func(a, b stat) string { return num(a, 0) + " against " + num(b, 0) }); t.n > 0 {
		s = append(s, "It makes "+
			t.text("configurations",
				[3]string{"more allocations per read than ristretto", "fewer allocations per read than ristretto", "as many allocations per read as ristretto"},
				[3]string{"more", "fewer", "as many"})+".")
	}
	if len(s) == 0 {
		return nil
	}
	return append(s,
		"The libraries differ in how a fill lands: ristretto applies a new key's Set asynchronously, so the tier waits for it on every fill, and may still drop it when its buffers are full or reject it at admission; otter applies a Set synchronously, and the value is in L1 when Set returns.",
		"The default stays ristretto because it is the library docs/design.md names; the choice is a flag, `-l1-backend` (`TIERCACHE_L1_BACKEND`).")
}

// An otterPair is a config with the otter L1 and the same with ristretto.
type otterPair struct {
	users, where string // "100k", "zipf1.01 at 1%"
	otter, rist  string // the benchmarks
}

// otterPairs returns the configs that the run measured on both L1
// libraries, in the order of the tables.
func otterPairs(r results, cs configSet) []otterPair {
	var ps []otterPair
	for _, u := range cs.users {
		for _, d := range cs.dists {
			for _, size := range cs.l1Sizes() {
				o, ri := cfgName(u, d, otterTiers, size), cfgName(u, d, "L1+L2", size)
				if r.has(o) && r.has(ri) {
					ps = append(ps, otterPair{users: usersOf(u), where: distOf(d) + " at " + size, otter: o, rist: ri})
				}
			}
		}
	}
	return ps
}

// A tally is a metric of the otter configs against ristretto's: the pairs
// where otter's is larger and smaller, with their values, and how many
// tie, of n.
type tally struct {
	up, down []tallyItem
	same, n  int
}

// A tallyItem is a pair whose values differ, phrased.
type tallyItem struct{ users, text string }

// tallyOf compares unit over the pairs that have it on both sides; values
// phrases otter's value a against ristretto's b.
func tallyOf(r results, ps []otterPair, unit string, values func(a, b stat) string) tally {
	var t tally
	for _, p := range ps {
		a, b := r.stat(p.otter, unit), r.stat(p.rist, unit)
		if !a.ok || !b.ok {
			continue
		}
		t.n++
		it := tallyItem{users: p.users, text: values(a, b) + " on " + p.where}
		switch direction(a, b) {
		case 1:
			t.up = append(t.up, it)
		case -1:
			t.down = append(t.down, it)
		default:
			t.same++
		}
	}
	return t
}

// text phrases t: "more requests/s than ristretto in 4 of the 12
// configurations measured with both (…), fewer in 1 (…) and as many,
// within the noise, in 7". long are the comparisons for larger, smaller
// and the same, which the first part states in full; short the words of
// the later parts.
func (t tally) text(noun string, long, short [3]string) string {
	var parts []string
	add := func(i, k int, items []tallyItem) {
		if k == 0 {
			return
		}
		words, count := short[i], strconv.Itoa(k)
		if len(parts) == 0 {
			words = long[i]
			switch {
			case k == t.n && k == 1:
				count = "the one " + strings.Replace(noun, "configurations", "configuration", 1)
			case k == t.n:
				count = fmt.Sprintf("all %d %s", k, noun)
			default:
				count = fmt.Sprintf("%d of the %d %s", k, t.n, noun)
			}
		}
		if i == 2 {
			words += ", within the noise,"
		}
		p := words + " in " + count
		if len(items) > 0 {
			p += " (" + byUsers(items) + ")"
		}
		parts = append(parts, p)
	}
	add(0, len(t.up), t.up)
	add(1, len(t.down), t.down)
	add(2, t.same, nil)
	return list(parts)
}

// byUsers lists items grouped by user count, in their order: "1.15× on
// uniform at 1% and 1.08× on zipf1.01 at 1% with 100k users; 1.20× on
// uniform at 1% with 1M users".
func byUsers(items []tallyItem) string {
	var groups []string
	for i := 0; i < len(items); {
		j := i
		var texts []string
		for ; j < len(items) && items[j].users == items[i].users; j++ {
			texts = append(texts, items[j].text)
		}
		groups = append(groups, list(texts)+" with "+items[i].users+" users")
		i = j
	}
	return strings.Join(groups, "; ")
}
