package report

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/dfaas-go/dfaas/strategy/sim"
)

// Sizes of the figures.
const (
	figWidth    = 8 * vg.Inch
	panelHeight = 2.2 * vg.Inch
	figHeight   = 4.5 * vg.Inch
	maxCDFPts   = 2000
)

// seriesColor returns the colour of the i-th line of a plot.
func seriesColor(i int) color.Color { return plotutil.DarkColors[i%len(plotutil.DarkColors)] }

// savePlots draws a column of panels into base.png and base.svg in dir.
// gonum/plot panics on some degenerate input; that becomes an error.
func savePlots(dir, base string, panels []*plot.Plot, w, h vg.Length) (err error) {
	if len(panels) == 0 {
		return fmt.Errorf("plot %s: nothing to draw", base)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plot %s: %v", base, r)
		}
	}()
	grid := make([][]*plot.Plot, len(panels))
	for i, p := range panels {
		grid[i] = []*plot.Plot{p}
	}
	for _, ext := range []string{"png", "svg"} {
		var dc draw.Canvas
		var write func(f *os.File) error
		switch ext {
		case "png":
			img := vgimg.New(w, h)
			dc = draw.New(img)
			write = func(f *os.File) error { _, err := vgimg.PngCanvas{Canvas: img}.WriteTo(f); return err }
		default:
			svg := vgsvg.New(w, h)
			dc = draw.New(svg)
			write = func(f *os.File) error { _, err := svg.WriteTo(f); return err }
		}
		tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadTop: 2, PadBottom: 2, PadLeft: 2, PadRight: 2, PadY: 6}
		canvases := plot.Align(grid, tiles, dc)
		for i := range grid {
			grid[i][0].Draw(canvases[i][0])
		}
		f, err := os.Create(filepath.Join(dir, base+"."+ext))
		if err != nil {
			return fmt.Errorf("plot %s: %w", base, err)
		}
		if err := write(f); err != nil {
			f.Close()
			return fmt.Errorf("plot %s.%s: %w", base, ext, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("plot %s.%s: %w", base, ext, err)
		}
	}
	return nil
}

// addLine adds a named line of points to p.
func addLine(p *plot.Plot, name string, pts plotter.XYs, i int, dashed bool) error {
	if len(pts) == 0 {
		return nil
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		return fmt.Errorf("line %s: %w", name, err)
	}
	l.Color = seriesColor(i)
	l.Width = vg.Points(1.2)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
	}
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

// ratesPlots returns one panel per node: offered, served locally,
// forwarded, rejected and failed requests per second (by the node where
// they arrived), and the requests it served for its neighbours. Only the
// first panel has a legend (the colours are the same in all).
func ratesPlots(ss []Second, nodes []string, d time.Duration, title string) ([]*plot.Plot, error) {
	var panels []*plot.Plot
	names := []string{"offered", "served locally", "forwarded", "rejected", "failed", "served for neighbours"}
	for k, id := range nodes {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%s — node %s", title, id)
		if k > 0 {
			p.Title.Text = "node " + id
		}
		p.Y.Label.Text = "req/s"
		p.X.Label.Text = "time (s)"
		p.X.Min, p.X.Max = 0, d.Seconds()
		p.Legend.Top, p.Legend.Left = true, true
		var cols [6]plotter.XYs
		top := 1.0
		for _, s := range ss {
			if s.Node != id {
				continue
			}
			x := float64(s.T) + 0.5
			for i, v := range []int64{s.Offered, s.ServedLocal, s.Forwarded, s.Rejected, s.Failed, s.ServedForOthers} {
				cols[i] = append(cols[i], plotter.XY{X: x, Y: float64(v)})
				top = max(top, float64(v))
			}
		}
		for i, name := range names {
			if err := addLine(p, name, cols[i], i, i == 5); err != nil {
				return nil, err
			}
		}
		p.Y.Min, p.Y.Max = 0, top*1.1
		if k == 0 {
			p.Y.Max = top * 1.9 // room for the legend
		} else {
			p.Legend = plot.NewLegend()
		}
		panels = append(panels, p)
	}
	return panels, nil
}

// stepXY turns (time, value) changes into a step line ending at end.
func stepXY(ts []float64, vs []float64, end float64) plotter.XYs {
	var pts plotter.XYs
	for i := range ts {
		next := end
		if i+1 < len(ts) {
			next = ts[i+1]
		}
		if next < ts[i] {
			next = ts[i]
		}
		pts = append(pts, plotter.XY{X: ts[i], Y: vs[i]}, plotter.XY{X: next, Y: vs[i]})
	}
	return pts
}

// sharesPlots returns one panel per node and function that has decisions:
// the local, forwarded and rejected shares over time.
func sharesPlots(ds []Decision, nodes []string, d time.Duration, title string) ([]*plot.Plot, error) {
	type key struct{ node, fn string }
	by := map[key][]Decision{}
	var keys []key
	for _, x := range ds {
		k := key{x.Node, x.Function}
		if _, ok := by[k]; !ok {
			keys = append(keys, k)
		}
		by[k] = append(by[k], x)
	}
	order := map[string]int{}
	for i, n := range nodes {
		order[n] = i
	}
	slices.SortFunc(keys, func(a, b key) int {
		if order[a.node] != order[b.node] {
			return order[a.node] - order[b.node]
		}
		switch {
		case a.fn < b.fn:
			return -1
		case a.fn > b.fn:
			return 1
		}
		return 0
	})
	var panels []*plot.Plot
	for i, k := range keys {
		xs := by[k]
		p := plot.New()
		p.Title.Text = fmt.Sprintf("node %s, %s", k.node, k.fn)
		if i == 0 {
			p.Title.Text = title + " — " + p.Title.Text
		}
		p.Y.Label.Text = "share"
		p.X.Label.Text = "time (s)"
		p.Y.Min, p.Y.Max = 0, 1.6 // room for the legend
		p.X.Min, p.X.Max = 0, d.Seconds()
		p.Legend.Top, p.Legend.Left = true, true
		if i > 0 {
			p.Legend = plot.NewLegend()
		}
		ts := make([]float64, len(xs))
		var loc, fwd, rej []float64
		for j, x := range xs {
			ts[j] = max(0, x.At.Seconds())
			loc = append(loc, x.Local)
			fwd = append(fwd, x.Forwarded())
			rej = append(rej, x.Reject)
		}
		for j, c := range []struct {
			name string
			vs   []float64
		}{{"local", loc}, {"forwarded", fwd}, {"rejected", rej}} {
			if err := addLine(p, c.name, stepXY(ts, c.vs, d.Seconds()), []int{1, 2, 3}[j], false); err != nil {
				return nil, err
			}
		}
		panels = append(panels, p)
	}
	return panels, nil
}

// latencyPlot returns the CDF of the latencies of served requests, one line
// per run.
func latencyPlot(runs []Run) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Latency of served requests (CDF)"
	p.X.Label.Text = "latency (ms, log scale)"
	p.Y.Label.Text = "fraction of served requests"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = 0, 1
	p.Legend.Top, p.Legend.Left = true, true
	drawn := false
	for i, r := range runs {
		var ls []float64
		for _, rec := range r.Records {
			if rec.Outcome == Served {
				ls = append(ls, max(0.1, float64(rec.Latency)/float64(time.Millisecond)))
			}
		}
		if len(ls) == 0 {
			continue
		}
		drawn = true
		slices.Sort(ls)
		step := max(1, len(ls)/maxCDFPts)
		var pts plotter.XYs
		for j := 0; j < len(ls); j += step {
			pts = append(pts, plotter.XY{X: ls[j], Y: float64(j+1) / float64(len(ls))})
		}
		pts = append(pts, plotter.XY{X: ls[len(ls)-1], Y: 1})
		if err := addLine(p, r.Strategy, pts, i, false); err != nil {
			return nil, err
		}
	}
	if !drawn {
		return nil, errors.New("latency plot: no request was served")
	}
	return p, nil
}

// successPlot returns a dot plot of the success rate per node (and in
// total) for each run: filled dots for the benchmark, rings for the
// simulator on the same scenario.
func successPlot(runs []Run, nodes []string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Success rate per node and strategy (filled: bench, ring: sim)"
	p.Y.Label.Text = "success rate"
	p.Legend.Top, p.Legend.Left = false, true
	groups := append(slices.Clone(nodes), "total")
	p.NominalX(groups...)
	p.X.Min, p.X.Max = -0.5, float64(len(groups))-0.5
	lo := 1.0
	k := len(runs)
	for i, r := range runs {
		off := 0.0
		if k > 1 {
			off = (float64(i) - float64(k-1)/2) * min(0.6/float64(k-1), 0.15)
		}
		rates := func(res *sim.Result) plotter.XYs {
			var pts plotter.XYs
			for g, id := range groups {
				v := math.NaN()
				if g == len(nodes) {
					v = res.SuccessRate
				} else {
					for _, n := range res.Nodes {
						if n.ID == id {
							v = n.SuccessRate
						}
					}
				}
				if math.IsNaN(v) {
					continue
				}
				lo = min(lo, v)
				pts = append(pts, plotter.XY{X: float64(g) + off, Y: v})
			}
			return pts
		}
		bench, err := plotter.NewScatter(rates(&r.Bench))
		if err != nil {
			return nil, fmt.Errorf("success plot: %w", err)
		}
		bench.GlyphStyle = draw.GlyphStyle{Color: seriesColor(i), Radius: vg.Points(3.5), Shape: draw.CircleGlyph{}}
		p.Add(bench)
		p.Legend.Add(r.Strategy, bench)
		if r.Sim != nil {
			s, err := plotter.NewScatter(rates(r.Sim))
			if err != nil {
				return nil, fmt.Errorf("success plot: %w", err)
			}
			s.GlyphStyle = draw.GlyphStyle{Color: seriesColor(i), Radius: vg.Points(5), Shape: draw.RingGlyph{}}
			p.Add(s)
		}
	}
	p.Y.Max = 1.005
	p.Y.Min = max(0, math.Floor((lo-0.01)*50)/50)
	p.Add(plotter.NewGrid())
	return p, nil
}
