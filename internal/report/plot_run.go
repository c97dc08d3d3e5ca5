package report

import (
	"cmp"
	"fmt"
	"image/color"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// classColors are the Okabe-Ito colours of the classes, readable by
// colour-blind readers and in grey.
var classColors = [NumClasses]color.Color{
	color.RGBA{0x00, 0x9e, 0x73, 0xff}, // served locally: bluish green
	color.RGBA{0x56, 0xb4, 0xe9, 0xff}, // served by a neighbour: sky blue
	color.RGBA{0xe6, 0x9f, 0x00, 0xff}, // policy: orange
	color.RGBA{0xcc, 0x79, 0xa7, 0xff}, // local limit: reddish purple
	color.RGBA{0xd5, 0x5e, 0x00, 0xff}, // admission: vermillion
	color.RGBA{0x99, 0x99, 0x99, 0xff}, // other: grey
	color.RGBA{0x00, 0x00, 0x00, 0xff}, // failed: black
}

// rateColors are the colours of the lines of the rates figure: offered,
// served locally, forwarded, rejected, failed, served for neighbours.
var rateColors = [6]color.Color{
	color.Black,
	color.RGBA{0x00, 0x9e, 0x73, 0xff}, // bluish green
	color.RGBA{0x00, 0x72, 0xb2, 0xff}, // blue
	color.RGBA{0xd5, 0x5e, 0x00, 0xff}, // vermillion
	color.RGBA{0x99, 0x99, 0x99, 0xff}, // grey
	color.RGBA{0xcc, 0x79, 0xa7, 0xff}, // reddish purple
}

// runTitle names a run: scenario, window, strategy, proxy and seed.
func (r *Report) runTitle(what string, run Run) string {
	t := fmt.Sprintf("%s\n%s %s · %s · %s proxy · seed %d", what, r.Scenario, r.window(), run.Strategy, r.Proxy, run.Seed)
	if r.repeats() > 1 {
		t += fmt.Sprintf(" (run %d of %d)", max(1, run.Repeat), r.repeats())
	}
	return t
}

// nodePanelTitle names a node's panel, saying when it had no load.
func nodePanelTitle(id string, offered int64) string {
	if offered == 0 {
		return "node " + id + " (no load offered: n/a)"
	}
	return "node " + id
}

// runFigures returns the figures of one run: rates, outcomes and (if any
// decision was recorded) shares.
func runFigures(r *Report, run Run, ss []Second) ([]*figure, error) {
	rates, err := ratesFigure(r, run, ss)
	if err != nil {
		return nil, err
	}
	outcomes, err := outcomesFigure(r, run, ss)
	if err != nil {
		return nil, err
	}
	figs := []*figure{rates, outcomes}
	if len(run.Decisions) > 0 {
		shares, err := sharesFigure(r, run)
		if err != nil {
			return nil, err
		}
		figs = append(figs, shares)
	}
	return figs, nil
}

// offeredBy returns the requests offered per node over a series.
func offeredBy(ss []Second) map[string]int64 {
	m := map[string]int64{}
	for _, s := range ss {
		m[s.Node] += s.Offered
	}
	return m
}

// column returns a figure's panels as one column.
func column(ps []*plot.Plot) [][]*plot.Plot {
	rows := make([][]*plot.Plot, len(ps))
	for i, p := range ps {
		rows[i] = []*plot.Plot{p}
	}
	return rows
}

// ratesFigure has one panel per node: offered, served locally, forwarded,
// rejected and failed requests per second (by the node where they
// arrived) and the requests it served for its neighbours; the simulator's
// rates per control period dashed beside them.
func ratesFigure(r *Report, run Run, ss []Second) (*figure, error) {
	names := []string{"offered", "served locally", "forwarded", "rejected", "failed", "served for neighbours"}
	leg := newLegend()
	offered := offeredBy(ss)
	var panels []*plot.Plot
	for k, id := range r.Nodes {
		p := newPanel(nodePanelTitle(id, offered[id]), "time (s)", "req/s")
		p.X.Min, p.X.Max = 0, r.Duration.Seconds()
		var cols [6]plotter.XYs
		top := 1.0
		for _, s := range ss {
			if s.Node != id {
				continue
			}
			for i, v := range []int64{s.Offered, s.ServedLocal, s.Forwarded, s.Rejected, s.Failed, s.ServedForOthers} {
				cols[i] = append(cols[i], plotter.XY{X: float64(s.T), Y: float64(v)}, plotter.XY{X: float64(s.T + 1), Y: float64(v)})
				top = max(top, float64(v))
			}
		}
		l := &leg
		if k > 0 {
			l = nil
		}
		for i, name := range names {
			if err := addLine(p, l, name+" (bench, per s)", cols[i], rateColors[i], false); err != nil {
				return nil, err
			}
		}
		simTop, err := addSimRates(p, run.SimSeries, id)
		if err != nil {
			return nil, err
		}
		p.Y.Min, p.Y.Max = 0, max(top, simTop)*1.05
		p.Add(plotter.NewGrid())
		panels = append(panels, p)
	}
	if len(run.SimSeries) > 0 {
		leg.Add("dashed: simulator, per period", dashed())
	}
	return &figure{name: "rates", alt: "requests per second per node, bench and simulator", title: r.runTitle("Request rates", run),
		rows: column(panels), legends: []plot.Legend{leg}, w: figWidth, h: panelHeight * vg.Length(len(panels))}, nil
}

// addSimRates adds the simulator's rates of node id, per control period,
// dashed (no offered line: the arrivals are the bench's), and returns
// their largest value.
func addSimRates(p *plot.Plot, ps []SimPeriod, id string) (float64, error) {
	var cols [6]plotter.XYs
	top := 0.0
	for _, s := range ps {
		if s.Node != id {
			continue
		}
		for i, v := range []float64{s.Offered, s.ServedLocal, s.Forwarded, s.Rejected, s.Failed, s.ServedForOthers} {
			cols[i] = append(cols[i], plotter.XY{X: s.From.Seconds(), Y: v}, plotter.XY{X: s.To.Seconds(), Y: v})
			top = max(top, v)
		}
	}
	names := []string{"", "served locally", "forwarded", "rejected", "failed", "served for neighbours"}
	for i := 1; i < len(cols); i++ {
		if err := addLine(p, nil, "", cols[i], rateColors[i], true); err != nil {
			return 0, fmt.Errorf("sim %s: %w", names[i], err)
		}
	}
	return top, nil
}

// outcomesFigure has one panel per node: its requests per second stacked
// by class, so that what the decisions did is visible (they add up to
// the offered rate), and the local limit in force, if any.
func outcomesFigure(r *Report, run Run, ss []Second) (*figure, error) {
	offered := offeredBy(ss)
	limits := localLimits(run.Decisions)
	var panels []*plot.Plot
	var thumbs [NumClasses]plot.Thumbnailer
	var limitThumb plot.Thumbnailer
	for _, id := range r.Nodes {
		p := newPanel(nodePanelTitle(id, offered[id]), "time (s)", "req/s")
		p.X.Min, p.X.Max = 0, r.Duration.Seconds()
		var cum [NumClasses]plotter.XYs
		var used [NumClasses]bool
		top := 1.0
		for _, s := range ss {
			if s.Node != id {
				continue
			}
			var sum int64
			for c := range NumClasses {
				sum += s.ByClass[c]
				used[c] = used[c] || s.ByClass[c] > 0
				cum[c] = append(cum[c], plotter.XY{X: float64(s.T), Y: float64(sum)}, plotter.XY{X: float64(s.T + 1), Y: float64(sum)})
			}
			top = max(top, float64(sum))
		}
		// The highest cumulative line first: each fill covers the
		// classes below it down to the axis, the next paints over.
		for i := int(NumClasses) - 1; i >= 0; i-- {
			c := Class(i)
			if !used[c] {
				continue
			}
			line, err := plotter.NewLine(cum[c])
			if err != nil {
				return nil, fmt.Errorf("outcomes %s: %w", id, err)
			}
			line.FillColor, line.Color, line.Width = classColors[c], classColors[c], vg.Points(0.3)
			p.Add(line)
			thumbs[c] = cmp.Or(thumbs[c], plot.Thumbnailer(line))
		}
		if lim, ok := limits[id]; ok {
			pts := stepXY(lim[0], lim[1], r.Duration.Seconds())
			line, err := plotter.NewLine(pts)
			if err != nil {
				return nil, fmt.Errorf("outcomes %s: local limit: %w", id, err)
			}
			line.Color, line.Width, line.Dashes = color.Black, vg.Points(1.1), []vg.Length{vg.Points(4), vg.Points(2)}
			p.Add(line)
			limitThumb = cmp.Or(limitThumb, plot.Thumbnailer(line))
			top = max(top, slices.Max(lim[1]))
		}
		p.Y.Min, p.Y.Max = 0, top*1.05
		panels = append(panels, p)
	}
	leg := newLegend()
	for c, th := range thumbs {
		if th != nil {
			leg.Add(Class(c).Label(), th)
		}
	}
	if limitThumb != nil {
		leg.Add("local limit in force (req/s)", limitThumb)
	}
	return &figure{name: "outcomes", alt: "effective outcome of each node's requests per second", title: r.runTitle("Outcomes of the requests by node of arrival", run),
		rows: column(panels), legends: []plot.Legend{leg}, w: figWidth, h: panelHeight * vg.Length(len(panels))}, nil
}

// localLimits returns, per node whose every route has a local limit, the
// times (s) and values of the sum of its routes' limits.
func localLimits(ds []Decision) map[string][2][]float64 {
	type key struct{ node, fn string }
	cur := map[key]float64{}
	out := map[string][2][]float64{}
	sorted := slices.Clone(ds)
	slices.SortStableFunc(sorted, func(a, b Decision) int { return cmp.Compare(a.At, b.At) })
	for _, d := range sorted {
		cur[key{d.Node, d.Function}] = d.LocalLimit
		sum, all := 0.0, true
		for k, v := range cur {
			if k.node == d.Node {
				sum += v
				all = all && v > 0
			}
		}
		if !all {
			sum = 0
		}
		v := out[d.Node]
		v[0], v[1] = append(v[0], max(0, d.At.Seconds())), append(v[1], sum)
		out[d.Node] = v
	}
	for n, v := range out {
		if slices.Max(v[1]) == 0 {
			delete(out, n)
		}
	}
	return out
}

// sharesFigure has one panel per node and function that has decisions:
// the local, forwarded and rejected shares in force (lines) and the
// fractions of its requests each second that were forwarded or refused
// (dots), which the shares do not show when a local limit overflows.
func sharesFigure(r *Report, run Run) (*figure, error) {
	type key struct{ node, fn string }
	by := map[key][]Decision{}
	var keys []key
	for _, x := range run.Decisions {
		k := key{x.Node, x.Function}
		if _, ok := by[k]; !ok {
			keys = append(keys, k)
		}
		by[k] = append(by[k], x)
	}
	order := map[string]int{}
	for i, n := range r.Nodes {
		order[n] = i
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(order[a.node], order[b.node]), cmp.Compare(a.fn, b.fn)) })
	effective := effectiveShares(run.Records, r.Duration)
	leg := newLegend()
	var panels []*plot.Plot
	for i, k := range keys {
		p := newPanel(fmt.Sprintf("node %s, %s", k.node, k.fn), "time (s)", "share")
		p.Y.Min, p.Y.Max = 0, 1
		p.X.Min, p.X.Max = 0, r.Duration.Seconds()
		l := &leg
		if i > 0 {
			l = nil
		}
		xs := by[k]
		ts := make([]float64, len(xs))
		var loc, fwd, rej []float64
		for j, x := range xs {
			ts[j] = max(0, x.At.Seconds())
			loc, fwd, rej = append(loc, x.Local), append(fwd, x.Forwarded()), append(rej, x.Reject)
		}
		for j, c := range []struct {
			name string
			vs   []float64
		}{{"local share", loc}, {"forward share", fwd}, {"reject share", rej}} {
			if err := addLine(p, l, c.name+" (decided)", stepXY(ts, c.vs, r.Duration.Seconds()), seriesColor(j+1), false); err != nil {
				return nil, err
			}
		}
		if err := addEffective(p, l, effective[[2]string{k.node, k.fn}]); err != nil {
			return nil, err
		}
		panels = append(panels, p)
	}
	return &figure{name: "shares", alt: "shares in force and effective fractions over time", title: r.runTitle("Shares decided and what happened", run),
		rows: column(panels), legends: []plot.Legend{leg}, w: figWidth, h: panelHeight * vg.Length(len(panels))}, nil
}

// effectiveShares returns, per node and function, per second with
// requests, the fractions of its user requests forwarded and refused.
func effectiveShares(recs []Record, d time.Duration) map[[2]string][2]plotter.XYs {
	type cnt struct{ n, fwd, rej int }
	n := int((d + time.Second - 1) / time.Second)
	counts := map[[2]string][]cnt{}
	for _, rec := range recs {
		if rec.At < 0 || rec.At >= d {
			continue
		}
		k := [2]string{rec.Node, rec.Function}
		if counts[k] == nil {
			counts[k] = make([]cnt, n)
		}
		c := &counts[k][int(rec.At/time.Second)]
		c.n++
		if rec.Forwarded() {
			c.fwd++
		}
		if rec.Outcome == Rejected {
			c.rej++
		}
	}
	out := map[[2]string][2]plotter.XYs{}
	for k, cs := range counts {
		var v [2]plotter.XYs
		for t, c := range cs {
			if c.n > 0 {
				x := float64(t) + 0.5
				v[0] = append(v[0], plotter.XY{X: x, Y: float64(c.fwd) / float64(c.n)})
				v[1] = append(v[1], plotter.XY{X: x, Y: float64(c.rej) / float64(c.n)})
			}
		}
		out[k] = v
	}
	return out
}

// addEffective adds the effective forwarded and refused fractions as
// dots in the colours of the forward and reject shares.
func addEffective(p *plot.Plot, l *plot.Legend, v [2]plotter.XYs) error {
	for j, name := range []string{"forwarded, per s (effective)", "rejected, per s (effective)"} {
		if len(v[j]) == 0 {
			continue
		}
		s, err := plotter.NewScatter(v[j])
		if err != nil {
			return fmt.Errorf("effective shares: %w", err)
		}
		s.GlyphStyle = draw.GlyphStyle{Color: seriesColor(j + 2), Radius: vg.Points(1.4), Shape: draw.CircleGlyph{}}
		p.Add(s)
		if l != nil {
			l.Add(name, s)
		}
	}
	return nil
}
