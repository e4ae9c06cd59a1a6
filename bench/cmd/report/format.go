package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

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

// dur is a stat of ns/op with its spread: "185 ns ±34%".
func dur(s stat) string {
	if !s.ok() {
		return "–"
	}
	return nsText(s.median) + spread(s)
}

func spread(s stat) string {
	if s.n < 2 {
		return ""
	}
	return fmt.Sprintf(" ±%.0f%%", 100*s.spread)
}

// num is the median with prec decimals, "–" when missing.
func num(s stat, prec int) string {
	if !s.ok() {
		return "–"
	}
	return strconv.FormatFloat(s.median, 'f', prec, 64)
}

// thousands is v rounded, with thousands separators: "25,246".
func thousands(v float64) string {
	s := strconv.FormatFloat(math.Round(math.Abs(v)), 'f', 0, 64)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if v <= -0.5 {
		return "-" + s
	}
	return s
}

// perSec is a rate: "25,246/s".
func perSec(v float64) string { return thousands(v) + "/s" }

// pct is a fraction as a percentage: "91.6%".
func pct(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

// x is a ratio: "0.68×", "36×".
func x(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	if v >= 10 {
		return fmt.Sprintf("%.0f×", v)
	}
	return fmt.Sprintf("%.2f×", v)
}

// ms is a latency in ms: "1.49 ms".
func ms(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + " ms" }

// A table is a Markdown table.
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
