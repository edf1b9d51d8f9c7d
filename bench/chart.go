package main

import (
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Colours: cadbox in blue, raw limits in grey; the lighter shade is p99.
const (
	colCadbox    = 0x1f5fa8
	colCadboxP99 = 0x8db6e3
	colRaw       = 0x555555
	colRawP99    = 0xb8b8b8
)

// rgb makes an opaque colour of 0xRRGGBB.
func rgb(c uint32) color.Color {
	return color.RGBA{R: uint8(c >> 16), G: uint8(c >> 8), B: uint8(c), A: 0xff}
}

// rowHeight is the room one measurement gets in a chart.
const rowHeight = 0.42 * vg.Inch

// series is one colour of bars: a value per row (0 where the row is not
// of this series).
type series struct {
	name   string
	col    color.Color
	values []float64
	offset vg.Length
}

// hbars draws a series as horizontal bars from base, which a log scale
// needs (it has no zero). Row i is drawn at y = i.
type hbars struct {
	series
	base  float64
	width vg.Length
}

// Plot implements plot.Plotter.
func (b hbars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for i, v := range b.values {
		if v <= b.base {
			continue
		}
		y := trY(float64(i)) + b.offset
		x0, x1 := trX(b.base), trX(v)
		h := b.width / 2
		c.FillPolygon(b.col, c.ClipPolygonXY([]vg.Point{{X: x0, Y: y - h}, {X: x1, Y: y - h}, {X: x1, Y: y + h}, {X: x0, Y: y + h}}))
	}
}

// DataRange implements plot.DataRanger.
func (b hbars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = b.base, b.base
	for _, v := range b.values {
		xmax = max(xmax, v)
	}
	return xmin, xmax, -0.5, float64(len(b.values)) - 0.5
}

// barChart draws horizontal bars on a logarithmic axis, one row per name
// (first on top), with a label at the end of each row.
func barChart(file, title, xlabel string, names, labels []string, ss []series, width vg.Length) error {
	n := len(names)
	if n == 0 {
		return nil
	}
	lo, hi := math.Inf(1), 0.0
	for _, s := range ss {
		for _, v := range s.values {
			if v > 0 {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	if hi == 0 {
		return nil
	}
	base := math.Pow(10, math.Floor(math.Log10(lo)))
	p := plot.New()
	p.Title.Text = title
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text = xlabel
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.X.Min = base
	// Room on the right for the labels: about a decade and a half.
	p.X.Max = hi * 25
	for _, s := range ss {
		// Row 0 is drawn at the bottom: reverse so the first name is on top.
		s.values = slices.Clone(s.values)
		slices.Reverse(s.values)
		p.Add(hbars{series: s, base: base, width: width})
	}
	var xys plotter.XYs
	for i := range n {
		end := base
		for _, s := range ss {
			end = max(end, s.values[i])
		}
		xys = append(xys, plotter.XY{X: end, Y: float64(n - 1 - i)})
	}
	lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return fmt.Errorf("chart %s: %w", file, err)
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i].XAlign = draw.XLeft
		lb.TextStyle[i].YAlign = draw.YCenter
		lb.TextStyle[i].Font.Size = vg.Points(9)
	}
	lb.Offset = vg.Point{X: vg.Points(4)}
	p.Add(lb)
	grid := plotter.NewGrid()
	grid.Horizontal.Width = 0
	p.Add(grid)
	rows := slices.Clone(names)
	slices.Reverse(rows)
	p.NominalY(rows...)
	h := rowHeight*vg.Length(n) + 1.2*vg.Inch
	if err := p.Save(11*vg.Inch, h, file); err != nil {
		return fmt.Errorf("chart %s: %w", file, err)
	}
	return nil
}

// throughputChart draws every docs/s and queries/s measurement.
func throughputChart(file string, ms []*Measurement) error {
	var names, labels []string
	cad := series{name: "cadbox", col: rgb(colCadbox)}
	raw := series{name: "raw limit (same run)", col: rgb(colRaw)}
	for _, m := range ms {
		if m.Unit != unitDocs && m.Unit != unitQueries {
			continue
		}
		names = append(names, m.Name)
		labels = append(labels, formatValues(m))
		c, r := m.Values[0], 0.0
		if m.Raw {
			c, r = 0, m.Values[0]
		}
		cad.values = append(cad.values, c)
		raw.values = append(raw.values, r)
	}
	return barChart(file, "Throughput, higher is better. Blue: cadbox; grey: raw limit measured in the same run", "documents or queries per second (log scale)",
		names, labels, []series{cad, raw}, 18)
}

// latencyChart draws every p50/p99 measurement.
func latencyChart(file string, ms []*Measurement) error {
	var names, labels []string
	const w = 11
	ss := []series{
		{name: "cadbox p50", col: rgb(colCadbox), offset: -w / 2},
		{name: "cadbox p99", col: rgb(colCadboxP99), offset: w / 2},
		{name: "raw limit p50", col: rgb(colRaw), offset: -w / 2},
		{name: "raw limit p99", col: rgb(colRawP99), offset: w / 2},
	}
	for _, m := range ms {
		if m.Unit != unitLatency {
			continue
		}
		names = append(names, m.Name)
		labels = append(labels, formatValues(m))
		first := 0
		if m.Raw {
			first = 2
		}
		for k := range ss {
			v := 0.0
			if k-first == 0 || k-first == 1 {
				v = m.Values[k-first]
			}
			ss[k].values = append(ss[k].values, v)
		}
	}
	return barChart(file, "Latency per request or call, lower is better. Blue: cadbox; grey: raw limit; dark: p50, light: p99", "milliseconds (log scale)",
		names, labels, ss, w)
}
