package report

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// summaryTitle names the whole bench: scenario, window, proxy, seeds.
// With repeats, how the runs are combined ends it ("mean and 95% CI",
// "runs pooled").
func (r *Report) summaryTitle(what, combined string) string {
	seeds := fmt.Sprintf("seed %d", r.Seed)
	if k := r.repeats(); k > 1 {
		seeds = fmt.Sprintf("%d runs, seeds %d-%d, %s", k, r.Seed, r.Seed+uint64(k)-1, combined)
	}
	return fmt.Sprintf("%s\n%s %s · %s proxy · %s", what, r.Scenario, r.window(), r.Proxy, seeds)
}

// summaryFigures returns the figures over every strategy: the strategy
// comparison, success per node, and (if anything was served) latency.
func summaryFigures(r *Report) ([]*figure, error) {
	cmpFig, err := strategiesFigure(r)
	if err != nil {
		return nil, err
	}
	succ, err := successFigure(r)
	if err != nil {
		return nil, err
	}
	figs := []*figure{cmpFig, succ}
	lat, err := latencyFigure(r)
	switch {
	case err == nil:
		figs = append(figs, lat)
	case !errors.Is(err, errNothingServed):
		return nil, err
	}
	return figs, nil
}

// marks adds points with their confidence intervals (where known) to p:
// filled dots for the bench, rings for the simulator.
func marks(p *plot.Plot, pts plotter.XYs, cis []*Interval, i int, ring bool) (plot.Thumbnailer, error) {
	if len(pts) == 0 {
		return nil, nil
	}
	sc, err := plotter.NewScatter(pts)
	if err != nil {
		return nil, err
	}
	sc.GlyphStyle = draw.GlyphStyle{Color: seriesColor(i), Radius: vg.Points(3), Shape: draw.CircleGlyph{}}
	if ring {
		sc.GlyphStyle = draw.GlyphStyle{Color: seriesColor(i), Radius: vg.Points(3.5), Shape: draw.RingGlyph{}}
	}
	var withCI ciPoints
	for j, ci := range cis {
		if ci != nil {
			withCI.xy, withCI.ci = append(withCI.xy, pts[j]), append(withCI.ci, *ci)
		}
	}
	if withCI.Len() > 0 {
		eb, err := plotter.NewYErrorBars(withCI)
		if err != nil {
			return nil, err
		}
		eb.Color, eb.CapWidth, eb.Width = seriesColor(i), vg.Points(5), vg.Points(1)
		p.Add(eb)
	}
	p.Add(sc)
	return sc, nil
}

// glyph returns a legend thumbnail of a bench dot or a simulator ring,
// in black.
func glyph(ring bool) plot.Thumbnailer {
	sc, _ := plotter.NewScatter(plotter.XYs{{}})
	sc.GlyphStyle = draw.GlyphStyle{Color: color.Black, Radius: vg.Points(3), Shape: draw.CircleGlyph{}}
	if ring {
		sc.GlyphStyle = draw.GlyphStyle{Color: color.Black, Radius: vg.Points(3.5), Shape: draw.RingGlyph{}}
	}
	return sc
}

// offset spreads k series around a group's position.
func offset(i, k int) float64 {
	if k < 2 {
		return 0
	}
	return (float64(i) - float64(k-1)/2) * min(0.6/float64(k-1), 0.15)
}

// strategiesFigure compares the strategies: success rate and p99 latency,
// means with 95 % confidence intervals, bench and simulator.
func strategiesFigure(r *Report) (*figure, error) {
	strats := r.Strategies()
	succ := newPanel("success rate", "", "served / offered")
	p99 := newPanel("p99 latency of served requests", "", "ms")
	for _, p := range []*plot.Plot{succ, p99} {
		p.NominalX(strats...)
		p.X.Min, p.X.Max = -0.5, float64(len(strats))-0.5
		if len(strats) > 3 { // names side by side would run into each other
			p.X.Tick.Label.Rotation = math.Pi / 6
			p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
		}
		p.Add(plotter.NewGrid())
	}
	lo, hiLat := 1.0, 1.0
	simulated := false
	for i, s := range strats {
		b, sm := r.Results(s)
		for j, res := range []*Result{&b, sm} {
			if res == nil {
				continue
			}
			x := float64(i) + []float64{-0.12, 0.12}[j]
			var lci *Interval
			if res.LatencyCI95 != nil {
				lci = &res.LatencyCI95.P99
			}
			if _, err := marks(succ, plotter.XYs{{X: x, Y: res.SuccessRate}}, []*Interval{res.SuccessRateCI95}, i, j == 1); err != nil {
				return nil, fmt.Errorf("strategies plot: %w", err)
			}
			if _, err := marks(p99, plotter.XYs{{X: x, Y: res.Latency.P99}}, []*Interval{lci}, i, j == 1); err != nil {
				return nil, fmt.Errorf("strategies plot: %w", err)
			}
			lo = min(lo, res.SuccessRate)
			hiLat = max(hiLat, res.Latency.P99)
			if res.SuccessRateCI95 != nil {
				lo = min(lo, res.SuccessRateCI95[0])
			}
			if lci != nil {
				hiLat = max(hiLat, lci[1])
			}
			simulated = simulated || j == 1
		}
	}
	succ.Y.Min, succ.Y.Max = max(0, math.Floor((lo-0.005)*50)/50), 1.0
	p99.Y.Min, p99.Y.Max = 0, hiLat*1.1
	leg := newLegend()
	leg.Add("bench", glyph(false))
	if simulated {
		leg.Add("simulator", glyph(true))
	}
	if r.repeats() > 1 {
		leg.Add(fmt.Sprintf("bars: 95%% CI, %d runs", r.repeats()))
	}
	return &figure{name: "strategies", alt: "success rate and p99 latency per strategy", title: r.summaryTitle("Strategies", "mean and 95% CI"),
		rows: [][]*plot.Plot{{succ, p99}}, legends: []plot.Legend{leg}, w: figWidth, h: 3 * vg.Inch}, nil
}

// successFigure has the success rate per node (and in total) for each
// strategy: filled dots for the bench, rings for the simulator, with
// their confidence intervals over runs. Nodes offered nothing are not
// drawn (n/a).
func successFigure(r *Report) (*figure, error) {
	strats := r.Strategies()
	p := newPanel("", "node of arrival", "success rate")
	benchRes := make([]Result, len(strats))
	simRes := make([]*Result, len(strats))
	for i, s := range strats {
		benchRes[i], simRes[i] = r.Results(s)
	}
	var groups []string
	for j, id := range r.Nodes {
		label := id
		if benchRes[0].Nodes[j].NA() {
			label += " (n/a)"
		}
		groups = append(groups, label)
	}
	groups = append(groups, "total")
	p.NominalX(groups...)
	p.X.Min, p.X.Max = -0.5, float64(len(groups))-0.5
	leg := newLegend()
	lo := 1.0
	// The simulator's ring sits a little right of the bench's dot, so
	// that their bars do not cover each other.
	simShift := 0.4 * min(0.6/float64(max(1, len(strats)-1)), 0.15)
	for i, s := range strats {
		for j, res := range []*Result{&benchRes[i], simRes[i]} {
			if res == nil {
				continue
			}
			off := offset(i, len(strats)) + float64(j)*simShift
			var pts plotter.XYs
			var cis []*Interval
			for g, n := range res.Nodes {
				if !n.NA() {
					pts, cis = append(pts, plotter.XY{X: float64(g) + off, Y: *n.SuccessRate}), append(cis, n.SuccessRateCI95)
				}
			}
			pts, cis = append(pts, plotter.XY{X: float64(len(res.Nodes)) + off, Y: res.SuccessRate}), append(cis, res.SuccessRateCI95)
			for k, pt := range pts {
				lo = min(lo, pt.Y)
				if cis[k] != nil {
					lo = min(lo, cis[k][0])
				}
			}
			th, err := marks(p, pts, cis, i, j == 1)
			if err != nil {
				return nil, fmt.Errorf("success plot: %w", err)
			}
			if j == 0 {
				leg.Add(s, th)
			}
		}
	}
	p.Y.Min, p.Y.Max = max(0, math.Floor((lo-0.01)*50)/50), 1.0
	p.Add(plotter.NewGrid())
	note := newLegend()
	note.Add("bench", glyph(false))
	note.Add("simulator", glyph(true))
	if r.repeats() > 1 {
		note.Add(fmt.Sprintf("bars: 95%% CI, %d runs", r.repeats()))
	}
	return &figure{name: "success", alt: "success rate per node and strategy", title: r.summaryTitle("Success rate per node", "mean and 95% CI"),
		rows: [][]*plot.Plot{{p}}, legends: []plot.Legend{leg, note}, w: figWidth, h: figHeight}, nil
}

var errNothingServed = errors.New("latency plot: no request was served")

// latencyFigure has the CDF of the latency of the requests served in every
// run of each strategy, solid for the bench and dashed for the simulator.
func latencyFigure(r *Report) (*figure, error) {
	p := newPanel("", "latency (ms, log scale)", "fraction of served requests")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = 0, 1
	leg := newLegend()
	drawn, simDrawn := false, false
	for i, s := range r.Strategies() {
		var bench, simulated []float64
		for _, run := range r.RunsOf(s) {
			for _, rec := range run.Records {
				if rec.Outcome == Served {
					bench = append(bench, latencyMS(rec.Latency))
				}
			}
			for _, l := range run.SimLatencies {
				simulated = append(simulated, latencyMS(l))
			}
		}
		if len(bench) == 0 {
			continue
		}
		drawn = true
		if err := addLine(p, &leg, s, cdf(bench), seriesColor(i), false); err != nil {
			return nil, err
		}
		if len(simulated) > 0 {
			simDrawn = true
			if err := addLine(p, nil, "", cdf(simulated), seriesColor(i), true); err != nil {
				return nil, err
			}
		}
	}
	if !drawn {
		return nil, errNothingServed
	}
	p.Add(plotter.NewGrid())
	legends := []plot.Legend{leg}
	note := newLegend()
	note.Add("solid: bench", solid())
	if simDrawn {
		note.Add("dashed: simulator", dashed())
	}
	if r.repeats() > 1 {
		note.Add(fmt.Sprintf("(all %d runs pooled)", r.repeats()))
	}
	legends = append(legends, note)
	return &figure{name: "latency", alt: "latency distribution of served requests, bench and simulator", title: r.summaryTitle("Latency of served requests (CDF)", "runs pooled"),
		rows: [][]*plot.Plot{{p}}, legends: legends, w: figWidth, h: figHeight}, nil
}

// latencyMS returns d in milliseconds, at least 0.1 (the log axis).
func latencyMS(d time.Duration) float64 { return max(0.1, float64(d)/float64(time.Millisecond)) }

// cdf returns the empirical distribution function of xs (sorted in place)
// in at most about maxCDFPts points.
func cdf(xs []float64) plotter.XYs {
	slices.Sort(xs)
	step := max(1, len(xs)/maxCDFPts)
	var pts plotter.XYs
	for j := 0; j < len(xs); j += step {
		pts = append(pts, plotter.XY{X: xs[j], Y: float64(j+1) / float64(len(xs))})
	}
	return append(pts, plotter.XY{X: xs[len(xs)-1], Y: 1})
}
