package report

import (
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgpdf"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Sizes of the figures: 7 in wide, the width of a page's text block.
const (
	figWidth    = 7 * vg.Inch
	panelHeight = 1.9 * vg.Inch
	figHeight   = 3.6 * vg.Inch
	titleHeight = 0.42 * vg.Inch // two lines
	pngDPI      = 150
	maxCDFPts   = 2000
)

// formats are the files each figure is written to.
var formats = []string{"png", "svg", "pdf"}

// figure is a grid of panels under a title, with one legend drawn in a
// column to their right, outside the data.
type figure struct {
	name  string // file name without extension
	alt   string // what it shows, for the report
	title string
	rows  [][]*plot.Plot
	// legends are drawn one under the other in the right-hand column.
	legends []plot.Legend
	w, h    vg.Length
}

// seriesColor returns the colour of the i-th line of a plot.
func seriesColor(i int) color.Color { return plotutil.DarkColors[i%len(plotutil.DarkColors)] }

// newPanel returns a plot with the fonts of a figure for print and no
// legend of its own.
func newPanel(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(10)
	p.X.Label.Text, p.Y.Label.Text = x, y
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = vg.Points(9)
		a.Tick.Label.Font.Size = vg.Points(8)
		a.Tick.Marker = plainTicks{}
	}
	return p
}

// plainTicks are gonum's default ticks with labels in the fewest digits
// ("500", not "500.00").
type plainTicks struct{}

func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i, t := range ts {
		if t.Label != "" {
			ts[i].Label = strconv.FormatFloat(t.Value, 'g', 6, 64)
		}
	}
	return ts
}

// newLegend returns an empty legend for the right-hand column.
func newLegend() plot.Legend {
	l := plot.NewLegend()
	l.Top, l.Left = true, true
	l.TextStyle.Font.Size = vg.Points(8)
	l.ThumbnailWidth = vg.Points(16)
	l.Padding = vg.Points(2)
	return l
}

// legendWidth returns the width of the legend column.
func (f *figure) legendWidth(c draw.Canvas) vg.Length {
	var w vg.Length
	for i := range f.legends {
		r := f.legends[i].Rectangle(c)
		w = max(w, r.Max.X-r.Min.X)
	}
	if w == 0 {
		return 0
	}
	return w + vg.Points(14)
}

// draw draws the figure onto c.
func (f *figure) draw(c draw.Canvas) {
	top := vg.Length(0)
	if f.title != "" {
		top = titleHeight
		sty := text.Style{Font: font.From(plot.DefaultFont, 10), Handler: plot.DefaultTextHandler, XAlign: draw.XCenter, YAlign: draw.YCenter}
		c.FillText(sty, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: c.Max.Y - titleHeight/2}, f.title)
	}
	lw := f.legendWidth(c)
	panels := draw.Crop(c, 0, -lw, 0, -top)
	tiles := draw.Tiles{Rows: len(f.rows), Cols: len(f.rows[0]), PadTop: 2, PadBottom: 2, PadLeft: 2, PadRight: 4, PadX: 14, PadY: 8}
	canvases := plot.Align(f.rows, tiles, panels)
	for i, row := range f.rows {
		for j, p := range row {
			if p != nil {
				p.Draw(canvases[i][j])
			}
		}
	}
	if lw == 0 {
		return
	}
	lc := draw.Crop(c, c.Max.X-c.Min.X-lw+vg.Points(8), 0, 0, -top-vg.Points(6))
	for i := range f.legends {
		l := &f.legends[i]
		l.Draw(lc)
		r := l.Rectangle(lc)
		lc = draw.Crop(lc, 0, 0, 0, -(r.Max.Y-r.Min.Y)-vg.Points(12))
	}
}

// save writes the figure as name.png, name.svg and name.pdf in dir.
// gonum/plot panics on some degenerate input; that becomes an error.
func (f *figure) save(dir string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plot %s: %v", f.name, r)
		}
	}()
	if len(f.rows) == 0 || len(f.rows[0]) == 0 {
		return fmt.Errorf("plot %s: nothing to draw", f.name)
	}
	for _, ext := range formats {
		var c vg.CanvasWriterTo
		switch ext {
		case "png":
			c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(f.w, f.h), vgimg.UseDPI(pngDPI))}
		case "svg":
			c = vgsvg.New(f.w, f.h)
		default:
			c = vgpdf.New(f.w, f.h)
		}
		f.draw(draw.New(c))
		if err := writeTo(filepath.Join(dir, f.name+"."+ext), c); err != nil {
			return fmt.Errorf("plot %s.%s: %w", f.name, ext, err)
		}
	}
	return nil
}

// writeTo writes w into a file at path.
func writeTo(path string, w io.WriterTo) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := w.WriteTo(out); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// addLine adds a named line of points to p, and to l if l is not nil.
func addLine(p *plot.Plot, l *plot.Legend, name string, pts plotter.XYs, c color.Color, dashed bool) error {
	if len(pts) == 0 {
		return nil
	}
	line, err := plotter.NewLine(pts)
	if err != nil {
		return fmt.Errorf("line %s: %w", name, err)
	}
	line.Color = c
	line.Width = vg.Points(1.1)
	if dashed {
		line.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
	}
	p.Add(line)
	if l != nil {
		l.Add(name, line)
	}
	return nil
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

// ciPoints are points with confidence intervals, for error bars.
type ciPoints struct {
	xy plotter.XYs
	ci []Interval
}

func (c ciPoints) Len() int                    { return len(c.xy) }
func (c ciPoints) XY(i int) (float64, float64) { return c.xy[i].X, c.xy[i].Y }
func (c ciPoints) YError(i int) (float64, float64) {
	return c.xy[i].Y - c.ci[i][0], c.ci[i][1] - c.xy[i].Y
}

// solid and dashed are legend thumbnails of a bench line and a simulator
// line, in grey.
func solid() plot.Thumbnailer { return legendLine(nil) }
func dashed() plot.Thumbnailer {
	return legendLine([]vg.Length{vg.Points(4), vg.Points(2)})
}

func legendLine(dashes []vg.Length) plot.Thumbnailer {
	l := &plotter.Line{XYs: plotter.XYs{{}}}
	l.Color, l.Width, l.Dashes = color.Gray{0x55}, vg.Points(1.1), dashes
	return l
}
