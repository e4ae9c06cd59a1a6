package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Formatting of numbers, for the cells of the tables and the sentences of
// the paragraphs alike.

// nsText is a duration in ns: "101 ns", "2.78 µs", "2.84 ms".
func nsText(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}

func dur(s stat) string {
	if !s.ok {
		return "–"
	}
	return nsText(s.median) + spreadOf(s)
}

func spreadOf(s stat) string {
	if s.n < 2 {
		return ""
	}
	return fmt.Sprintf(" ±%.0f%%", 100*s.spread)
}

// num is the median with prec decimals, rounded half away from zero (a
// median of 4.5 allocs is 5, as 15.5 is 16; strconv would round to even).
func num(s stat, prec int) string {
	if !s.ok {
		return "–"
	}
	p := math.Pow10(prec)
	return strconv.FormatFloat(math.Round(s.median*p)/p, 'f', prec, 64)
}

func rate(s stat) string {
	if !s.ok {
		return "–"
	}
	return fmt.Sprintf("%s/s", thousands(s.median)) + spreadOf(s)
}

func thousands(v float64) string {
	s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

// perSec is a rate in prose: "25,246/s", or "25,246 reads/s" with a unit.
func perSec(v float64, unit ...string) string {
	if len(unit) > 0 {
		return thousands(v) + " " + unit[0] + "/s"
	}
	return thousands(v) + "/s"
}

// nsShort is nsText without a fraction of zeros: "1 ms", "10 µs".
func nsShort(ns float64) string { return strings.Replace(nsText(ns), ".00 ", " ", 1) }

func pct(s stat) string {
	if !s.ok {
		return "–"
	}
	return pctText(s.median)
}

// pctText is a fraction as a percentage: "91.6%".
func pctText(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

func times(v float64, ok bool) string {
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.2f×", v)
}

// x is a ratio in prose, as precise as the tables below 10: "1.06×",
// "4.16×", "517×".
func x(v float64) string {
	if v >= 10 {
		return fmt.Sprintf("%.0f×", v)
	}
	return fmt.Sprintf("%.2f×", v)
}

// list joins items as prose: "a", "a and b", "a, b and c".
func list(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// plural is "1 run", "2 runs".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

type table struct {
	head []string
	rows [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(b *strings.Builder) {
	b.WriteString("| " + strings.Join(t.head, " | ") + " |\n|")
	for range t.head {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	b.WriteString("\n")
}
