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
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/tiercache/tiercache/bench"
)

// The charts of BENCHMARKS.md (gonum.org/v1/plot, PNG). Drawing uses no
// time, map order or randomness: the same results give the same bytes.

// chartDPI is the PNGs' resolution: a chart of w×h pixels at 96 DPI.
const chartDPI = 96

// px is n pixels at chartDPI.
func px(n float64) vg.Length { return vg.Length(n) * vg.Inch / chartDPI }

// A chart is one PNG of the charts directory; draw is nil when the
// results lack its data.
type chart struct {
	file string
	w, h int
	draw func(dc draw.Canvas)
}

func charts(in inputs) []chart {
	return []chart{headlineChart(in), hitRatioChart(in)}
}

// writeCharts draws the charts into dir and returns the files it drew. The
// file of a chart without data is removed, so that it cannot outlive the
// results it came from.
func writeCharts(dir string, cs []chart) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot write charts: %w", err)
	}
	var files []string
	for _, c := range cs {
		path := filepath.Join(dir, c.file)
		if c.draw == nil {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("cannot remove chart: %w", err)
			}
			continue
		}
		img := vgimg.NewWith(vgimg.UseWH(px(float64(c.w)), px(float64(c.h))), vgimg.UseDPI(chartDPI))
		c.draw(draw.New(img))
		var buf bytes.Buffer
		if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
			return nil, fmt.Errorf("cannot draw %s: %w", c.file, err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return nil, fmt.Errorf("cannot write chart: %w", err)
		}
		files = append(files, c.file)
	}
	return files, nil
}

// The style: Liberation Sans and the Okabe-Ito palette, which readers with
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

func newPlot(title, xlabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(sans, 15)
	p.Title.Padding = px(10)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sans, 13)
		a.Tick.Label.Font = font.From(sans, 12)
	}
	p.X.Label.Text = xlabel
	return p
}

// drawPlot draws p into dc minus right pixels on the right, with its X
// label centred under the data: gonum would centre it on the data's
// midpoint, which on a log scale lies far right of the axis' centre.
func drawPlot(dc draw.Canvas, p *plot.Plot, right vg.Length) {
	label := p.X.Label.Text
	p.X.Label.Text = ""
	sty := p.X.Label.TextStyle
	sty.XAlign, sty.YAlign = draw.XCenter, draw.YBottom
	area := draw.Crop(dc, px(6), -right-px(10), px(4), 0)
	pc := draw.Crop(area, 0, 0, sty.Height(label)+px(8), 0)
	p.Draw(pc)
	data := p.DataCanvas(pc)
	area.FillText(sty, vg.Point{X: data.Center().X, Y: area.Min.Y + px(2)}, label)
}

// legend draws entries in a box at the top right of the canvas, outside
// the plot's data: the plot is drawn into the canvas minus width pixels.
func legend(dc draw.Canvas, entries []legendEntry) vg.Length {
	if len(entries) == 0 {
		return 0
	}
	l := plot.NewLegend()
	l.TextStyle.Font = font.From(sans, 12)
	l.Top, l.Left = true, true
	l.ThumbnailWidth = px(24)
	l.Padding = px(5)
	var w vg.Length
	for _, e := range entries {
		l.Add(e.name, e.thumb)
		w = max(w, l.TextStyle.Width(e.name))
	}
	width := w + l.ThumbnailWidth + px(20)
	lc := dc
	lc.Min.X = dc.Max.X - width
	lc.Max.Y = dc.Max.Y - px(40)
	l.Draw(lc)
	return width
}

type legendEntry struct {
	name  string
	thumb plot.Thumbnailer
}

// hbars are horizontal bars on a log X axis, from the axis' minimum to each
// value, with a label at the bar's end; one bar per row of the Y axis, rows
// bottom to top. plotter.BarChart cannot: its bars start at 0.
type hbars struct {
	values []float64 // NaN: no bar
	labels []string
	color  func(i int) color.Color
	width  vg.Length
}

func (b *hbars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	sty := p.X.Tick.Label
	sty.Font = font.From(sans, 10)
	sty.XAlign, sty.YAlign = draw.XLeft, draw.YCenter
	for i, v := range b.values {
		if math.IsNaN(v) {
			continue
		}
		y := trY(float64(i))
		x0, x1 := trX(p.X.Min), trX(v)
		c.FillPolygon(b.color(i), c.ClipPolygonXY([]vg.Point{
			{X: x0, Y: y - b.width/2}, {X: x0, Y: y + b.width/2},
			{X: x1, Y: y + b.width/2}, {X: x1, Y: y - b.width/2},
		}))
		// On a white box, which keeps grid lines from crossing it.
		pt := vg.Point{X: x1 + px(4), Y: y}
		box := sty.Rectangle(b.labels[i]).Add(pt)
		box.Min.X, box.Max.X = box.Min.X-px(1), box.Max.X+px(1)
		c.SetColor(color.White)
		c.Fill(box.Path())
		c.FillText(sty, pt, b.labels[i])
	}
}

func (b *hbars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = math.Inf(1), math.Inf(-1)
	for _, v := range b.values {
		if !math.IsNaN(v) {
			xmin, xmax = min(xmin, v), max(xmax, v)
		}
	}
	return xmin, xmax, 0, float64(len(b.values) - 1)
}

// logRange is an axis from a decade below lo, so the smallest bar shows,
// to past hi by room times, for the labels.
func logRange(lo, hi, room float64) (float64, float64) {
	return math.Pow10(int(math.Floor(math.Log10(lo)))), math.Pow10(int(math.Ceil(math.Log10(hi * room))))
}

// decadeTicks labels the powers of ten with format, minor ticks between.
type decadeTicks struct{ format func(float64) string }

func (d decadeTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		v := math.Pow(10, e)
		if v >= lo && v <= hi {
			ts = append(ts, plot.Tick{Value: v, Label: d.format(v)})
		}
		for m := 2.0; m < 10; m++ {
			if w := v * m; w >= lo && w <= hi {
				ts = append(ts, plot.Tick{Value: w})
			}
		}
	}
	return ts
}

// si is 1.5M, 36k, 950.
func si(v float64) string {
	switch {
	case v >= 1e6:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", v/1e6), ".0") + "M"
	case v >= 1e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// headlineChart is requests/s per set-up of the headline, log scale, one
// colour per origin, the ratio to the origin alone at each bar's end.
func headlineChart(in inputs) chart {
	c := chart{file: "headline.png", w: 880}
	gs := gains(in)
	if len(gs) == 0 {
		return c
	}
	c.h = 110 + 30*len(gs)
	var setups []string
	b := &hbars{width: px(20)}
	var names []string
	lo, hi := math.Inf(1), 0.0
	for i := len(gs) - 1; i >= 0; i-- { // top to bottom
		g := gs[i]
		setup, _, _ := strings.Cut(g.setup, ",")
		if !slices.Contains(setups, setup) {
			setups = append(setups, setup)
		}
		names = append(names, g.setup+": "+g.row.Target)
		b.values = append(b.values, g.row.RPS)
		label := si(g.row.RPS) + "/s"
		if g.ratio > 0 {
			label += ", " + x(g.ratio)
		}
		b.labels = append(b.labels, label)
		lo, hi = min(lo, g.row.RPS), max(hi, g.row.RPS)
	}
	b.color = func(i int) color.Color {
		setup, _, _ := strings.Cut(gs[len(gs)-1-i].setup, ",")
		return palette[slices.Index(setups, setup)%len(palette)]
	}
	c.draw = func(dc draw.Canvas) {
		xlabel := "requests/s (log scale)"
		if slices.ContainsFunc(gs, func(g gain) bool { return g.ratio > 0 }) {
			xlabel += "; at each bar's end, × the origin alone"
		}
		p := newPlot("What tiercache buys: requests/s per set-up", xlabel)
		p.X.Scale = plot.LogScale{}
		p.X.Min, p.X.Max = logRange(lo, hi, 4)
		p.X.Tick.Marker = decadeTicks{si}
		p.NominalY(names...)
		p.Y.Min, p.Y.Max = -0.6, float64(len(names))-0.4
		grid := plotter.NewGrid()
		grid.Horizontal.Color = nil
		p.Add(grid, b)
		drawPlot(dc, p, 0)
	}
	return c
}

// hitRatioChart is the L1 hit ratio against the L1 size: a colour per
// workload, solid for ristretto, dashed for otter.
func hitRatioChart(in inputs) chart {
	c := chart{file: "hit-ratio.png", w: 880, h: 500}
	points, _ := hitPoints(in.raw)
	if len(points) == 0 {
		return c
	}
	type line struct {
		name  string
		dist  int
		otter bool
		xys   plotter.XYs
	}
	var lines []*line
	var dists []string
	sizes := map[float64]bool{}
	for _, p := range points {
		name := p.dist + ", " + p.lib
		if len(lines) == 0 || lines[len(lines)-1].name != name {
			if !slices.Contains(dists, p.dist) {
				dists = append(dists, p.dist)
			}
			lines = append(lines, &line{name: name, dist: slices.Index(dists, p.dist), otter: p.lib == bench.LibOtter})
		}
		l := lines[len(lines)-1]
		l.xys = append(l.xys, plotter.XY{X: p.pct, Y: 100 * p.ratio.median})
		sizes[p.pct] = true
	}
	c.draw = func(dc draw.Canvas) {
		var entries []legendEntry
		var plotters []plot.Plotter
		for _, l := range lines {
			ln, pts, err := plotter.NewLinePoints(l.xys)
			if err != nil {
				panic(err) // finite values
			}
			col := palette[l.dist%len(palette)]
			ln.Color, ln.Width = col, px(2.5)
			pts.Color, pts.Radius, pts.Shape = col, px(4), draw.CircleGlyph{}
			if l.otter {
				ln.Dashes = []vg.Length{px(8), px(5)}
				pts.Shape, pts.Radius = draw.BoxGlyph{}, px(3.5)
			}
			plotters = append(plotters, ln, pts)
			entries = append(entries, legendEntry{l.name, ln})
		}
		lw := legend(dc, entries)
		p := newPlot("L1 hit ratio against L1 size", "L1 size: % of the users it holds (log scale)")
		p.Y.Label.Text = "L1 hit ratio"
		p.X.Scale = plot.LogScale{}
		var ticks plot.ConstantTicks
		lo, hi := math.Inf(1), 0.0
		for s := range sizes {
			lo, hi = min(lo, s), max(hi, s)
		}
		for _, s := range bench.HitRatioSizes() {
			if s >= lo && s <= hi {
				ticks = append(ticks, plot.Tick{Value: s, Label: fmt.Sprintf("%g%%", s)})
			}
		}
		p.X.Tick.Marker = ticks
		p.X.Min, p.X.Max = lo/1.25, hi*1.25
		p.Y.Min, p.Y.Max = 0, 100
		var yt plot.ConstantTicks
		for v := 0.0; v <= 100; v += 20 {
			yt = append(yt, plot.Tick{Value: v, Label: fmt.Sprintf("%.0f%%", v)})
		}
		p.Y.Tick.Marker = yt
		p.Add(plotter.NewGrid())
		p.Add(plotters...)
		drawPlot(dc, p, lw)
	}
	return c
}

var _ plot.DataRanger = (*hbars)(nil)
