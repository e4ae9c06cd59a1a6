package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The L1 memory section and targets, from BenchmarkL1Memory: one fill of a
// new L1 tier of each library per op, at each budget (-l1-bytes), with the
// heap that the full tier keeps, that heap over the budget, and the users it
// still holds.

// memoryTolerance is docs/design.md's bound on heap/budget: L1 within its
// configured bytes ±10%.
const memoryTolerance = 0.1

// memorySet is what BenchmarkL1Memory ran: the budgets in MiB, smallest
// first, and the L1 libraries, ristretto (the default) first.
type memorySet struct {
	budgets []int
	libs    []string
}

func (r results) memorySet() memorySet {
	var ms memorySet
	for name := range r {
		rest, ok := strings.CutPrefix(name, "L1Memory/budget=")
		if !ok {
			continue
		}
		size, lib, ok := strings.Cut(rest, "MiB/l1=")
		budget, err := strconv.Atoi(size)
		if !ok || err != nil || budget <= 0 || lib == "" {
			continue
		}
		if !slices.Contains(ms.budgets, budget) {
			ms.budgets = append(ms.budgets, budget)
		}
		if !slices.Contains(ms.libs, lib) {
			ms.libs = append(ms.libs, lib)
		}
	}
	slices.Sort(ms.budgets)
	order(ms.libs, []string{"ristretto", "otter"})
	return ms
}

// has reports whether the run measured lib.
func (ms memorySet) has(lib string) bool { return slices.Contains(ms.libs, lib) }

func memoryName(budget int, lib string) string {
	return fmt.Sprintf("L1Memory/budget=%dMiB/l1=%s", budget, lib)
}

// A memoryPoint is one library at one budget: its heap in MiB, heap/budget
// and users held.
type memoryPoint struct {
	budget             int
	heap, ratio, users stat
}

// bytesPerUser is the heap over the users held, in bytes: a ratio of
// medians.
func (p memoryPoint) bytesPerUser() (float64, bool) {
	if !p.heap.ok || !p.users.ok || p.users.median <= 0 {
		return 0, false
	}
	return p.heap.median * (1 << 20) / p.users.median, true
}

// memoryPoints returns lib's results at each budget of ms that it has.
func (r results) memoryPoints(ms memorySet, lib string) []memoryPoint {
	var ps []memoryPoint
	for _, b := range ms.budgets {
		name := memoryName(b, lib)
		if !r.has(name) {
			continue
		}
		ps = append(ps, memoryPoint{budget: b, heap: r.stat(name, "heap-MiB"),
			ratio: r.stat(name, "heap/budget"), users: r.stat(name, "users-held")})
	}
	return ps
}

// withinBudget reports whether heap/budget v is within docs/design.md's ±10%.
func withinBudget(v float64) bool { return v >= 1-memoryTolerance && v <= 1+memoryTolerance }

// budgetRatio is heap/budget as text, "0.94×", with as many decimals as it
// takes for the text to fall on the same side of the ±10% bounds as the
// value: 1.1004 is "1.1004×", not "1.10×", which would read as met.
func budgetRatio(v float64) string {
	s := ""
	for prec := 2; prec <= 6; prec++ {
		s = strconv.FormatFloat(v, 'f', prec, 64)
		if f, err := strconv.ParseFloat(s, 64); err == nil && withinBudget(f) == withinBudget(v) {
			break
		}
	}
	return s + "×"
}

// span is "lo–hi", or one of them when both read the same.
func span(lo, hi, sep string) string {
	if lo == hi {
		return lo
	}
	return lo + sep + hi
}

// mibList is "16, 32 and 64 MiB".
func mibList(budgets []int) string {
	items := make([]string, len(budgets))
	for i, b := range budgets {
		items[i] = strconv.Itoa(b)
	}
	return list(items) + " MiB"
}

// A budgetFit is how a library's heap/budget fits docs/design.md's bound over the
// budgets measured.
type budgetFit struct {
	budgets     []int   // the budgets with a heap/budget
	lo, hi      float64 // the least and greatest median heap/budget
	over, under []memoryPoint
}

func fitOf(ps []memoryPoint) (budgetFit, bool) {
	f := budgetFit{lo: math.Inf(1), hi: math.Inf(-1)}
	for _, p := range ps {
		if !p.ratio.ok {
			continue
		}
		v := p.ratio.median
		f.budgets = append(f.budgets, p.budget)
		f.lo, f.hi = min(f.lo, v), max(f.hi, v)
		switch {
		case v > 1+memoryTolerance:
			f.over = append(f.over, p)
		case v < 1-memoryTolerance:
			f.under = append(f.under, p)
		}
	}
	return f, len(f.budgets) > 0
}

// rangeText is "0.91–0.97×" (sep "–") or "0.91× to 0.97×" (sep " to ").
func (f budgetFit) rangeText(sep string) string {
	lo, hi := budgetRatio(f.lo), budgetRatio(f.hi)
	if sep == "–" && lo != hi {
		lo = strings.TrimSuffix(lo, "×")
	}
	return span(lo, hi, sep)
}

// outside is "1.20× at 64 MiB", one item per budget outside the bound.
func outside(ps []memoryPoint) []string {
	items := make([]string, len(ps))
	for i, p := range ps {
		items[i] = fmt.Sprintf("%s at %d MiB", budgetRatio(p.ratio.median), p.budget)
	}
	return items
}

// budgetItems is "64 MiB (1.20×)", one item per point.
func budgetItems(ps []memoryPoint) []string {
	items := make([]string, len(ps))
	for i, p := range ps {
		items[i] = fmt.Sprintf("%d MiB (%s)", p.budget, budgetRatio(p.ratio.median))
	}
	return items
}

// memoryTarget evaluates t, docs/design.md's memory target, on lib: met when the
// median heap/budget is within ±10% at every budget measured.
func memoryTarget(r results, ms memorySet, lib string, t target) target {
	ps := r.memoryPoints(ms, lib)
	f, ok := fitOf(ps)
	if !ok {
		return t
	}
	t.measured = fmt.Sprintf("%s at %s", f.rangeText("–"), mibList(f.budgets))
	t.verdict = met
	if len(f.over) == 0 && len(f.under) == 0 {
		return t
	}
	t.verdict = missed
	t.gap = list(outside(append(slices.Clone(f.over), f.under...)))
	charge := fmt.Sprintf("the per-entry charge (`EntryOverhead` in backends/%s, on top of a user's key and value bytes)", lib)
	cost := func(ps []memoryPoint) string {
		var items []string
		for _, p := range ps {
			if v, ok := p.bytesPerUser(); ok {
				items = append(items, fmt.Sprintf("%s B per user held at %d MiB", thousands(v), p.budget))
			}
		}
		if len(items) == 0 {
			return ""
		}
		return " (" + list(items) + ")"
	}
	switch {
	case len(f.under) == 0:
		t.note = fmt.Sprintf("%s is less than what an entry keeps on the heap%s, so the tier admits more than its budget holds; recalibrate it with this benchmark", charge, cost(f.over))
	case len(f.over) == 0:
		t.note = fmt.Sprintf("%s is more than what an entry keeps on the heap%s, so the tier evicts before it fills its budget; recalibrate it with this benchmark", charge, cost(f.under))
	default:
		t.note = fmt.Sprintf("heap/budget moves with the budget (%s), more than one per-entry charge (`EntryOverhead` in backends/%s) can absorb: the tier's fixed structures do not grow like its entries",
			f.rangeText(" to "), lib)
	}
	return t
}

// memoryTargets returns the memory target on ristretto, the default, and on
// otter when the run measured it (not counted, like otter's L1 hit).
func memoryTargets(r results) []target {
	ms := r.memorySet()
	ts := []target{memoryTarget(r, ms, "ristretto", target{name: "L1 memory: within ±10% of `-l1-bytes`", short: "L1 memory"})}
	if ms.has("otter") {
		ts = append(ts, memoryTarget(r, ms, "otter", target{name: "L1 memory with `-l1-backend otter` (not the default): within ±10% of `-l1-bytes`",
			short: "L1 memory with `-l1-backend otter`", variant: true}))
	}
	return ts
}

// rueidisMemory states the memory of rueidis' client-side cache, which no
// benchmark measures (docs/design.md).
const rueidisMemory = "L1 is the only local copy of the values: the Redis tier reads with plain commands, so rueidis' client-side cache, which it keeps on only for client tracking, holds nothing."

// renderMemory tabulates BenchmarkL1Memory, when the run has it.
func (rep report) renderMemory(b *strings.Builder) {
	r := rep.r
	ms := r.memorySet()
	if len(ms.budgets) == 0 {
		return
	}
	b.WriteString("## L1 memory\n\n")
	rep.runLine(b, "L1Memory", "", "")
	b.WriteString("One op fills a new L1 tier, through `core.Local` as the cache fills it, with four times the users that its budget (`-l1-bytes`) is meant to hold, so that it is full and has turned users away, then weighs the heap it keeps and counts the users it still holds. ")
	b.WriteString("heap/budget: that heap over the budget (docs/design.md: within ±10%). bytes per user: the heap over the users held.\n\n")
	t := table{head: []string{"budget", "library", "heap", "heap/budget", "users held", "bytes per user", "n"}}
	for _, budget := range ms.budgets {
		for _, lib := range ms.libs {
			name := memoryName(budget, lib)
			if !r.has(name) {
				continue
			}
			p := memoryPoint{budget: budget, heap: r.stat(name, "heap-MiB"), ratio: r.stat(name, "heap/budget"), users: r.stat(name, "users-held")}
			heap := "–"
			if p.heap.ok {
				heap = fmt.Sprintf("%.2f MiB", p.heap.median) + spreadOf(p.heap)
			}
			ratio, users, per := "–", "–", "–"
			if p.ratio.ok {
				ratio = budgetRatio(p.ratio.median)
			}
			if p.users.ok {
				users = thousands(p.users.median)
			}
			if v, ok := p.bytesPerUser(); ok {
				per = thousands(v) + " B"
			}
			n := max(p.heap.n, p.ratio.n, p.users.n)
			t.add(fmt.Sprintf("%d MiB", budget), lib, heap, ratio, users, per, strconv.Itoa(n))
		}
	}
	t.write(b)
	paragraph(b, memoryProse(r, ms))
}

// memoryProse says whether each library keeps within its budget, what a
// user held costs each, and how many users otter holds against ristretto at
// the same budget; then what the benchmark measures.
func memoryProse(r results, ms memorySet) []string {
	var s []string
	var costs []string
	for _, lib := range ms.libs {
		ps := r.memoryPoints(ms, lib)
		f, ok := fitOf(ps)
		if !ok {
			continue
		}
		who := lib
		if lib == "ristretto" {
			who = "ristretto (the default)"
		}
		if len(f.over) == 0 && len(f.under) == 0 {
			at := "at every budget measured (" + mibList(f.budgets) + ")"
			if len(f.budgets) == 1 {
				at = "at the one budget measured (" + mibList(f.budgets) + ")"
			}
			s = append(s, fmt.Sprintf("With %s, a full L1 stays within ±10%% of its budget %s: its heap is %s the budget.", who, at, f.rangeText(" to ")))
		} else {
			var out []string
			if len(f.over) > 0 {
				out = append(out, "more than 10% over it at "+list(budgetItems(f.over)))
			}
			if len(f.under) > 0 {
				out = append(out, "more than 10% under it at "+list(budgetItems(f.under)))
			}
			s = append(s, fmt.Sprintf("With %s, a full L1 does not stay within ±10%% of its budget: its heap is %s; at %s it is %s the budget.",
				who, strings.Join(out, ", and "), mibList(f.budgets), f.rangeText(" to ")))
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, p := range ps {
			if v, ok := p.bytesPerUser(); ok {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
		if lo <= hi {
			heap := ""
			if len(costs) == 0 {
				heap = " of heap"
			}
			costs = append(costs, fmt.Sprintf("%s B%s on %s", span(thousands(lo), thousands(hi), " to "), heap, lib))
		}
	}
	if len(costs) > 0 {
		s = append(s, fmt.Sprintf("Counting its bookkeeping, each user held takes %s.", list(costs)))
	}
	if sent := usersHeldProse(r, ms); sent != "" {
		s = append(s, sent)
	}
	if len(s) == 0 {
		return nil
	}
	return append(s,
		"The heap measured is the heap a full tier keeps after a GC: its keys, values and bookkeeping; ristretto keeps key hashes, not keys.",
		"The per-entry charge that each tier counts against its budget (`EntryOverhead` in backends/ristretto and backends/otter) is calibrated by this benchmark.",
		rueidisMemory)
}

// usersHeldProse compares the users that otter and ristretto hold at the
// same budget, or returns "" when the run lacks either.
func usersHeldProse(r results, ms memorySet) string {
	if !ms.has("ristretto") || !ms.has("otter") {
		return ""
	}
	var more, fewer, same []string
	for _, b := range ms.budgets {
		o, ri := r.stat(memoryName(b, "otter"), "users-held"), r.stat(memoryName(b, "ristretto"), "users-held")
		if !o.ok || !ri.ok || ri.median <= 0 {
			continue
		}
		item := fmt.Sprintf("%d MiB (%s, %s against %s)", b, x(o.median/ri.median), thousands(o.median), thousands(ri.median))
		switch direction(o, ri) {
		case 1:
			more = append(more, item)
		case -1:
			fewer = append(fewer, item)
		default:
			same = append(same, fmt.Sprintf("%d MiB (%s against %s)", b, thousands(o.median), thousands(ri.median)))
		}
	}
	var parts []string
	for _, p := range []struct {
		items       []string
		long, short string
	}{
		{more, "more users than ristretto", "more"},
		{fewer, "fewer users than ristretto", "fewer"},
		{same, "as many users as ristretto, within the noise,", "as many, within the noise,"},
	} {
		if len(p.items) == 0 {
			continue
		}
		words := p.short
		if len(parts) == 0 {
			words = p.long
		}
		parts = append(parts, words+" at "+list(p.items))
	}
	if len(parts) == 0 {
		return ""
	}
	return "At the same budget, otter holds " + strings.Join(parts, "; ") + "."
}
