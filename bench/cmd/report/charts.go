package main

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// The charts of BENCHMARKS.md, drawn with gonum.org/v1/plot into PNGs.
// Drawing is deterministic (no time, no map order, no randomness), so that
// the same results give the same bytes and regenerating the report without
// new results does not change the committed files.

// chartDPI is the resolution of the PNGs: a chart of w×h pixels is w×h
// at 96 DPI.
const chartDPI = 96

// px is n pixels at chartDPI.
func px(n float64) vg.Length { return vg.Length(n) * vg.Inch / chartDPI }

// A chart is one PNG: its file name in the charts directory, its size in
// pixels, and what draws it.
type chart struct {
	file string
	w, h int
	draw func(dc draw.Canvas)
}

// charts returns every chart; draw is nil in those that r lacks the data
// for.
func charts(r results) []chart {
	return []chart{pathsChart(r), configsChart(r), hitRatioChart(r)}
}

// writeCharts draws the charts into dir and returns the file name of each
// it drew. The file of a chart without data is removed: a chart of older
// results must not outlive them.
func writeCharts(dir string, cs []chart) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot write charts: %w", err)
	}
	var files []string
	for _, c := range cs {
		if c.draw == nil {
			if err := os.Remove(filepath.Join(dir, c.file)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("cannot remove chart: %w", err)
			}
			continue
		}
		data, err := c.png()
		if err != nil {
			return nil, fmt.Errorf("cannot draw %s: %w", c.file, err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.file), data, 0o644); err != nil {
			return nil, fmt.Errorf("cannot write chart: %w", err)
		}
		files = append(files, c.file)
	}
	return files, nil
}

// png draws c and encodes it.
func (c chart) png() ([]byte, error) {
	img := vgimg.NewWith(vgimg.UseWH(px(float64(c.w)), px(float64(c.h))), vgimg.UseDPI(chartDPI))
	c.draw(draw.New(img))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// The style: Liberation Sans, and the Okabe-Ito palette, which readers with
// a colour vision deficiency can tell apart.
var (
	sans    = font.Font{Typeface: "Liberation", Variant: "Sans"}
	palette = []color.Color{
		color.RGBA{0x00, 0x72, 0xB2, 0xFF}, // blue
		color.RGBA{0xE6, 0x9F, 0x00, 0xFF}, // orange
		color.RGBA{0x00, 0x9E, 0x73, 0xFF}, // green
		color.RGBA{0xD5, 0x5E, 0x00, 0xFF}, // vermillion
		color.RGBA{0xCC, 0x79, 0xA7, 0xFF}, // purple
		color.RGBA{0x56, 0xB4, 0xE9, 0xFF}, // sky blue
	}
)

// newPlot returns a plot in the house style. Its X label is drawn by
// drawChart, not by the plot: gonum reserves room for a centred label at
// the data midpoint, which on a log scale lies far right of the centre.
func newPlot(title, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(sans, 13)
	p.Title.Padding = px(10)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sans, 11)
		a.Tick.Label.Font = font.From(sans, 10)
		a.Padding = 0
	}
	p.Y.Label.Text = ylabel
	return p
}

// legendEntry is a name with what its thumbnail shows.
type legendEntry struct {
	name  string
	thumb plot.Thumbnailer
}

// drawChart draws p with xlabel centred under its data, and its legend in a
// column at the right, outside the data, where it cannot hide any.
func drawChart(dc draw.Canvas, p *plot.Plot, xlabel string, entries []legendEntry) {
	l := plot.NewLegend()
	l.TextStyle.Font = font.From(sans, 10)
	l.Top, l.Left = true, true
	l.Padding = px(3)
	l.ThumbnailWidth = px(22)
	var textWidth vg.Length
	for _, e := range entries {
		l.Add(e.name, e.thumb)
		textWidth = max(textWidth, l.TextStyle.Width(e.name))
	}
	legendWidth := px(16) + l.ThumbnailWidth + l.TextStyle.Width(" ") + textWidth + px(14)
	if len(entries) == 0 {
		legendWidth = px(8)
	}
	area := draw.Crop(dc, px(4), -legendWidth, px(4), 0)

	sty := p.X.Label.TextStyle
	sty.XAlign = draw.XCenter
	labelHeight := sty.Height(xlabel) + px(6)
	pc := draw.Crop(area, 0, 0, labelHeight, 0)
	p.Draw(pc)
	data := p.DataCanvas(pc)
	area.FillText(sty, vg.Point{X: data.Center().X, Y: area.Min.Y + sty.FontExtents().Descent}, xlabel)

	if len(entries) > 0 {
		lc := dc
		lc.Min.X, lc.Max.Y = area.Max.X+px(16), data.Max.Y
		l.Draw(lc)
	}
}

// textStyle is the style of the values written on a chart.
func textStyle(p *plot.Plot, xalign draw.XAlignment, yalign draw.YAlignment) text.Style {
	return text.Style{Font: font.From(sans, 8), XAlign: xalign, YAlign: yalign, Handler: p.TextHandler, Color: color.Black}
}

// fillLabel writes s at pt on a white box, which keeps grid lines from
// crossing it.
func fillLabel(c draw.Canvas, sty text.Style, pt vg.Point, s string) {
	r := sty.Rectangle(s)
	r.Min.X, r.Max.X = r.Min.X-px(1), r.Max.X+px(1)
	c.SetColor(color.White)
	c.Fill(r.Add(pt).Path())
	c.FillText(sty, pt, s)
}

// siTicks labels the ticks of a count axis as 500k, 1M, 1.5M.
type siTicks struct{}

func (siTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = si(ts[i].Value)
		}
	}
	return ts
}

// si is 1.49M, 696k, 950.
func si(v float64) string {
	trim := func(s string) string {
		if strings.Contains(s, ".") {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
		return s
	}
	switch a := math.Abs(v); {
	case a >= 1e6:
		return trim(fmt.Sprintf("%.2f", v/1e6)) + "M"
	case a >= 1e3:
		return trim(fmt.Sprintf("%.0f", v/1e3)) + "k"
	}
	return trim(fmt.Sprintf("%.0f", v))
}

// configsChartSubset is what configs.png shows: the first user count and
// the largest L1.
func configsChartSubset(cs configSet) (users, size string, ok bool) {
	sizes := cs.l1Sizes()
	if len(cs.users) == 0 || len(sizes) == 0 {
		return "", "", false
	}
	return cs.users[0], sizes[len(sizes)-1], true
}

// A barSeries is one set of tiers of configs.png, with its requests/s per
// workload (0 where the run lacks it).
type barSeries struct {
	name, tiers, size string
	color             color.Color
	values            []float64
}

// configsSeries returns the series of configs.png: each set of tiers for
// users, with L1 at size. The otter L1 comes only when the run measured it;
// the others keep their place, empty, so that a missing one shows.
func configsSeries(r results, cs configSet, users, size string) []barSeries {
	all := []barSeries{
		{name: "store only (no cache)", tiers: "none", size: "0%", color: palette[0]},
		{name: "L1 only, " + size + " of users", tiers: "L1", size: size, color: palette[1]},
		{name: "L2 only", tiers: "L2", size: "0%", color: palette[2]},
		{name: "L1 + L2, L1 " + size, tiers: "L1+L2", size: size, color: palette[3]},
		{name: "L1 (otter) + L2, L1 " + size, tiers: otterTiers, size: size, color: palette[4]},
	}
	var series []barSeries
	for _, s := range all {
		s.values = make([]float64, len(cs.dists))
		var measured bool
		for i, d := range cs.dists {
			s.values[i] = r.stat(cfgName(users, d, s.tiers, s.size), "req/s").median // 0 when missing
			measured = measured || s.values[i] > 0
		}
		if s.tiers == otterTiers && !measured {
			continue
		}
		series = append(series, s)
	}
	return series
}

// configsChart is requests/s per set of tiers, grouped by workload.
func configsChart(r results) chart {
	c := chart{file: "configs.png", w: 800, h: 450}
	cs := r.configSet()
	users, size, ok := configsChartSubset(cs)
	if !ok {
		return c
	}
	series := configsSeries(r, cs, users, size)
	var hi float64
	for _, s := range series {
		hi = max(hi, slices.Max(s.values))
	}
	if hi == 0 {
		return c
	}
	c.draw = func(dc draw.Canvas) {
		p := newPlot(fmt.Sprintf("Requests/s per set of tiers, %s users", usersOf(users)), "requests/s")
		names := make([]string, len(cs.dists))
		for i, d := range cs.dists {
			names[i] = distOf(d)
		}
		p.NominalX(names...)
		p.X.Tick.Label.Font = font.From(sans, 11)
		p.Y.Tick.Marker = siTicks{}
		p.Y.Min, p.Y.Max = 0, hi*1.1
		grid := plotter.NewGrid()
		grid.Vertical.Color = nil
		p.Add(grid)
		// 38 px for four series; narrower for more, to keep the groups
		// apart.
		width := px(min(38, 152/float64(len(series))))
		var entries []legendEntry
		for i, s := range series {
			bars, err := plotter.NewBarChart(plotter.Values(s.values), width)
			if err != nil {
				panic(err) // the width is positive
			}
			bars.Color = s.color
			bars.LineStyle.Width = 0
			bars.Offset = width * vg.Length(float64(i)-float64(len(series)-1)/2)
			p.Add(bars)
			p.Add(valueLabels(s.values, bars.Offset, si))
			entries = append(entries, legendEntry{s.name, bars})
		}
		drawChart(dc, p, "workload (key distribution of the reads)", entries)
	}
	return c
}

// valueLabels writes each non-zero value above its bar.
func valueLabels(vs []float64, offset vg.Length, format func(float64) string) plot.Plotter {
	return plotFunc(func(c draw.Canvas, p *plot.Plot) {
		trX, trY := p.Transforms(&c)
		sty := textStyle(p, draw.XCenter, draw.YBottom)
		for i, v := range vs {
			if v == 0 {
				continue
			}
			fillLabel(c, sty, vg.Point{X: trX(float64(i)) + offset, Y: trY(v) + px(3)}, format(v))
		}
	})
}

// plotFunc adapts a function to plot.Plotter.
type plotFunc func(c draw.Canvas, p *plot.Plot)

func (f plotFunc) Plot(c draw.Canvas, p *plot.Plot) { f(c, p) }

// A hitLine is one line of hit-ratio.png.
type hitLine struct {
	name  string
	xys   plotter.XYs
	color color.Color // one per workload
	style lineStyle
}

// hitRatioLines returns the lines of hit-ratio.png: one per workload and
// user count, ristretto's, then otter's (in front of L2) for the first user
// count only, which more lines would bury.
func hitRatioLines(r results, cs configSet) []hitLine {
	sizes := cs.l1Sizes()
	line := func(hit func(size string) stat) plotter.XYs {
		var xys plotter.XYs
		for _, size := range sizes {
			if h := hit(size); h.ok {
				xys = append(xys, plotter.XY{X: sizePct(size), Y: 100 * h.median})
			}
		}
		return xys
	}
	var lines []hitLine
	for ui, u := range cs.users {
		for di, d := range cs.dists {
			xys := line(func(size string) stat { return l1HitRatio(r, u, d, size) })
			if len(xys) == 0 {
				continue
			}
			style := solid
			if ui > 0 {
				style = dashed
			}
			lines = append(lines, hitLine{distOf(d) + ", " + usersOf(u) + " users", xys, palette[di%len(palette)], style})
		}
	}
	if len(cs.users) == 0 {
		return lines
	}
	u := cs.users[0]
	for di, d := range cs.dists {
		xys := line(func(size string) stat { return r.stat(cfgName(u, d, otterTiers, size), "l1-hit-ratio") })
		if len(xys) > 0 {
			lines = append(lines, hitLine{distOf(d) + ", " + usersOf(u) + ", otter", xys, palette[di%len(palette)], dotted})
		}
	}
	return lines
}

// hitRatioChart is the L1 hit ratio against L1 size, one line per workload
// and user count.
func hitRatioChart(r results) chart {
	c := chart{file: "hit-ratio.png", w: 800, h: 450}
	cs := r.configSet()
	sizes := cs.l1Sizes()
	if len(sizes) == 0 {
		return c
	}
	lines := hitRatioLines(r, cs)
	if len(lines) == 0 {
		return c
	}
	lo, hi := sizePct(sizes[0]), sizePct(sizes[len(sizes)-1])
	c.draw = func(dc draw.Canvas) {
		p := newPlot("L1 hit ratio against L1 size", "L1 hit ratio (%)")
		p.X.Scale = plot.LogScale{}
		p.X.Min, p.X.Max = lo/1.3, hi*1.3
		var ticks plot.ConstantTicks
		for _, s := range sizes {
			ticks = append(ticks, plot.Tick{Value: sizePct(s), Label: s})
		}
		p.X.Tick.Marker = ticks
		p.Y.Min, p.Y.Max = 0, 100
		var yt plot.ConstantTicks
		for v := 0.0; v <= 100; v += 20 {
			yt = append(yt, plot.Tick{Value: v, Label: fmt.Sprintf("%.0f%%", v)})
		}
		p.Y.Tick.Marker = yt
		p.Add(plotter.NewGrid())
		var entries []legendEntry
		for _, l := range lines {
			ln, pts, err := plotter.NewLinePoints(l.xys)
			if err != nil {
				panic(err) // finite values
			}
			ln.Color, ln.Width = l.color, px(2.5)
			pts.Color, pts.Radius, pts.Shape = l.color, px(4), draw.CircleGlyph{}
			switch l.style {
			case dashed:
				ln.Dashes = []vg.Length{px(7), px(4)}
				pts.Shape = draw.BoxGlyph{}
			case dotted:
				ln.Width = px(2)
				ln.Dashes = []vg.Length{px(2), px(3)}
				pts.Shape, pts.Radius = draw.TriangleGlyph{}, px(5)
			}
			p.Add(ln, pts)
			entries = append(entries, legendEntry{l.name, thumbs{ln, pts}})
		}
		drawChart(dc, p, "L1 size (% of the users it can hold, log scale)", entries)
	}
	return c
}

// lineStyle tells the lines of hit-ratio.png apart: solid for the first
// user count, dashed for the next, dotted for the otter L1.
type lineStyle int

const (
	solid lineStyle = iota
	dashed
	dotted
)

// thumbs draws several thumbnails as one legend entry.
type thumbs []plot.Thumbnailer

func (ts thumbs) Thumbnail(c *draw.Canvas) {
	for _, t := range ts {
		t.Thumbnail(c)
	}
}

// The rows of paths.png, top to bottom.
var pathRows = []struct{ name, label string }{
	{"bare", "bare handler (ceiling)"},
	{"l1-hit", "L1 hit"},
	{"l1-hit-otter", "L1 hit, otter"},
	{"negative-l1", "negative hit (L1)"},
	{"l2-hit-local", "L2 hit, client-side cache"}, // in older runs only
	{"l2-hit-redis", "L2 hit, Redis"},
	{"l2-hit-redis-32g", "L2 hit, Redis, 32 readers"},
	{"store-memory", "store load, memory"},
	{"store-bolt", "store load, bbolt"},
}

// The bar families of paths.png.
var pathFamilies = []struct{ name, label string }{
	{"Core", "core.Cache.Get"},
	{"Handler", "handler, called directly"},
	{"HTTP", "HTTP, end to end"},
}

// pathsData returns the rows of paths.png that the run measured, bottom to
// top: their labels, the values of each family (NaN where none), and the
// least and greatest value.
func pathsData(r results) (labels []string, values [][]float64, lo, hi float64) {
	values = make([][]float64, len(pathFamilies)) // family → row
	lo, hi = math.Inf(1), math.Inf(-1)
	for i := len(pathRows) - 1; i >= 0; i-- {
		row := pathRows[i]
		var measured bool
		vs := make([]float64, len(pathFamilies))
		for f, fam := range pathFamilies {
			vs[f] = math.NaN()
			if s := r.ns(fam.name + "/" + row.name); s.ok && s.median > 0 {
				vs[f], measured = s.median, true
				lo, hi = min(lo, s.median), max(hi, s.median)
			}
		}
		if !measured {
			continue
		}
		labels = append(labels, row.label)
		for f := range pathFamilies {
			values[f] = append(values[f], vs[f])
		}
	}
	return labels, values, lo, hi
}

// pathsChart is ns/op per read path, horizontal bars on a log scale, for
// core, the handler and HTTP side by side.
func pathsChart(r results) chart {
	c := chart{file: "paths.png", w: 800, h: 520}
	families := pathFamilies
	labels, values, lo, hi := pathsData(r)
	if len(labels) == 0 {
		return c
	}
	c.draw = func(dc draw.Canvas) {
		p := newPlot("Time per read, by path", "")
		p.X.Scale = plot.LogScale{}
		// A decade below the fastest, so that its bar shows; room for the
		// labels beyond the slowest.
		p.X.Min = math.Pow10(int(math.Floor(math.Log10(lo))) - 1)
		p.X.Max = math.Pow10(int(math.Ceil(math.Log10(hi * 6))))
		p.X.Tick.Marker = decadeTicks{}
		p.NominalY(labels...)
		p.Y.Min, p.Y.Max = -0.7, float64(len(labels))-0.3
		p.Y.Tick.Label.Font = font.From(sans, 11)
		grid := plotter.NewGrid()
		grid.Horizontal.Color = nil
		p.Add(grid)
		width := px(12)
		var entries []legendEntry
		for f, fam := range families {
			present := false
			for _, v := range values[f] {
				present = present || !math.IsNaN(v)
			}
			if !present {
				continue
			}
			b := &hbars{values: values[f], color: palette[f], width: width,
				offset: -width * vg.Length(float64(f)-float64(len(families)-1)/2)}
			p.Add(b)
			entries = append(entries, legendEntry{fam.label, b})
		}
		drawChart(dc, p, "ns/op: wall time per read with all readers running (log scale)", entries)
	}
	return c
}

// decadeTicks marks the powers of ten of an axis of durations in ns, with
// unlabelled minor ticks between them.
type decadeTicks struct{}

func (decadeTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		v := math.Pow(10, e)
		if v >= lo && v <= hi {
			ts = append(ts, plot.Tick{Value: v, Label: nsShort(v)})
		}
		for m := 2.0; m < 10; m++ {
			if w := v * m; w >= lo && w <= hi {
				ts = append(ts, plot.Tick{Value: w})
			}
		}
	}
	return ts
}

// hbars draws horizontal bars from the axis' minimum to each value, with
// the value written at the bar's end; a NaN value has no bar.
// plotter.BarChart cannot do it on a log scale: its bars start at 0.
type hbars struct {
	values []float64 // per row of the Y axis
	color  color.Color
	width  vg.Length // the bar's thickness
	offset vg.Length // of the bar's centre from its row's
}

func (b *hbars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	sty := textStyle(p, draw.XLeft, draw.YCenter)
	for i, v := range b.values {
		if math.IsNaN(v) {
			continue
		}
		y := trY(float64(i)) + b.offset
		x0, x1 := trX(p.X.Min), trX(v)
		c.FillPolygon(b.color, c.ClipPolygonXY([]vg.Point{
			{X: x0, Y: y - b.width/2}, {X: x0, Y: y + b.width/2},
			{X: x1, Y: y + b.width/2}, {X: x1, Y: y - b.width/2},
		}))
		fillLabel(c, sty, vg.Point{X: x1 + px(3), Y: y}, nsText(v))
	}
}

// DataRange implements plot.DataRanger: the values on X, the rows on Y.
func (b *hbars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = math.Inf(1), math.Inf(-1)
	for _, v := range b.values {
		if !math.IsNaN(v) {
			xmin, xmax = min(xmin, v), max(xmax, v)
		}
	}
	return xmin, xmax, 0, float64(len(b.values) - 1)
}

// Thumbnail implements plot.Thumbnailer.
func (b *hbars) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(b.color, []vg.Point{
		{X: c.Min.X, Y: c.Min.Y}, {X: c.Min.X, Y: c.Max.Y},
		{X: c.Max.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Min.Y},
	})
}

var _ plot.DataRanger = (*hbars)(nil)
