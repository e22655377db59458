package bench

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"sort"
	"strings"
)

// Chart colours.
const (
	colSP     = "#2b6cb0"
	colPeer   = "#c05621"
	colSPWarm = "#38a169"
	colMin    = "#718096"
	colGood   = "#2f855a"
	colBad    = "#c53030"
)

// SVG renders the report as a chart, by hand: the speedup over the peer
// per workload (log scale, with the targets), the wire bytes against the
// peer's and against the data's minimum, and the incremental sync's time
// against the collection size (log-log).
func (r *Report) SVG() []byte {
	const w = 960
	var b bytes.Buffer
	y := 0
	var body bytes.Buffer
	y = r.svgSpeedups(&body, y, w)
	y = r.svgWire(&body, y, w)
	y = r.svgScaling(&body, y, w)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, y+30, w, y+30)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	b.Write(body.Bytes())
	m := r.Machine
	fmt.Fprintf(&b, `<text x="10" y="%d" fill="#4a5568" font-size="11">%s</text>`+"\n", y+18,
		esc(fmt.Sprintf("%s, %d cores, %s; %s; node %s; %d B items (%s); load average %s; %s", m.CPU, m.Cores, fmtBytes(m.MemoryBytes), m.Go, orDash(m.Node), r.Settings.Size, r.Settings.Content, orDash(m.LoadStart), r.Started.Format("2006-01-02"))))
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func esc(s string) string { return html.EscapeString(s) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// speedTarget is the speedup target of a workload (0: none).
func speedTarget(workload string) float64 {
	switch workload {
	case WorkPull, WorkPush:
		return 30
	case WorkBidi:
		return 50
	}
	return 0
}

func (r *Report) svgSpeedups(b *bytes.Buffer, y, w int) int {
	title(b, y, "Syncprint against the peer (PouchDB): how many times faster (log scale; | = target)")
	y += 30
	if len(r.Comparisons) == 0 {
		fmt.Fprintf(b, `<text x="20" y="%d" fill="#4a5568">no peer run</text>`+"\n", y+14)
		return y + 30
	}
	const left, right = 230, 120
	plotW := float64(w - left - right)
	lo, hi := 0.1, 1000.0
	for _, c := range r.Comparisons {
		v := c.Speedup
		if c.ThroughputRatio > 0 {
			v = c.ThroughputRatio
		}
		hi = math.Max(hi, v*2)
	}
	xOf := func(v float64) float64 {
		v = math.Min(math.Max(v, lo), hi)
		return float64(left) + plotW*math.Log10(v/lo)/math.Log10(hi/lo)
	}
	rowH := 24
	n := len(r.Comparisons)
	// Grid: decades.
	for d := lo; d <= hi*1.0001; d *= 10 {
		x := xOf(d)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e2e8f0"/>`+"\n", x, y, x, y+rowH*n)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#718096" font-size="10">%gx</text>`+"\n", x, y+rowH*n+12, d)
	}
	x1 := xOf(1)
	fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#4a5568"/>`+"\n", x1, y, x1, y+rowH*n)
	for k, c := range r.Comparisons {
		ry := y + k*rowH
		v, label := c.Speedup, strings.TrimSpace(c.Workload+c.Variant)
		if c.ThroughputRatio > 0 {
			v, label = c.ThroughputRatio, label+" (applied/s)"
		}
		target := speedTarget(c.Workload)
		col := colSP
		if target > 0 {
			col = map[bool]string{true: colGood, false: colBad}[v >= target]
		}
		x0, xv := xOf(lo), xOf(v)
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, ry+16, esc(label))
		fmt.Fprintf(b, `<rect x="%.1f" y="%d" width="%.1f" height="16" fill="%s"/>`+"\n", x0, ry+4, math.Max(xv-x0, 1), col)
		fmt.Fprintf(b, `<text x="%.1f" y="%d">%s</text>`+"\n", xv+4, ry+16, esc(fmt.Sprintf("%.1fx", v)))
		if target > 0 {
			xt := xOf(target)
			fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black" stroke-width="2"/>`+"\n", xt, ry+1, xt, ry+23)
		}
	}
	return y + rowH*n + 30
}

func (r *Report) svgWire(b *bytes.Buffer, y, w int) int {
	title(b, y, "Wire bytes of Syncprint: against the peer's and against the data's minimum (| = 1.15x target)")
	y += 30
	var rows []*Result
	for _, res := range r.Results {
		if res.System == Syncprint && res.WireRatio > 0 {
			rows = append(rows, res)
		}
	}
	if len(rows) == 0 {
		return y + 10
	}
	const left, right = 230, 120
	plotW := float64(w - left - right)
	hi := 2.0
	for _, res := range rows {
		hi = math.Max(hi, res.WireRatio*1.1)
		if c := r.comparison(res.key()); c != nil {
			hi = math.Max(hi, c.BytesRatio*1.1)
		}
	}
	hi = math.Min(hi, 20)
	xOf := func(v float64) float64 { return float64(left) + plotW*math.Min(v, hi)/hi }
	rowH := 34
	n := len(rows)
	for _, g := range []float64{0, 0.5, 1, 1.5, 2, 3, 5, 10, 20} {
		if g > hi {
			break
		}
		x := xOf(g)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e2e8f0"/>`+"\n", x, y, x, y+rowH*n)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#718096" font-size="10">%gx</text>`+"\n", x, y+rowH*n+12, g)
	}
	for _, g := range []float64{1, 1.15} {
		x := xOf(g)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black" stroke-width="%d"/>`+"\n", x, y, x, y+rowH*n, map[bool]int{true: 2, false: 1}[g != 1])
	}
	for k, res := range rows {
		ry := y + k*rowH
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, ry+20, esc(strings.TrimSpace(res.key())))
		bar := func(dy int, v float64, col, label string) {
			fmt.Fprintf(b, `<rect x="%d" y="%d" width="%.1f" height="13" fill="%s"/>`+"\n", left, ry+dy, math.Max(xOf(v)-float64(left), 1), col)
			fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="11">%s</text>`+"\n", xOf(v)+4, ry+dy+11, esc(fmt.Sprintf("%.2fx %s", v, label)))
		}
		if c := r.comparison(res.key()); c != nil {
			bar(3, c.BytesRatio, colPeer, "of the peer's")
		}
		bar(17, res.WireRatio, colMin, "of the minimum")
	}
	return y + rowH*n + 30
}

func (r *Report) svgScaling(b *bytes.Buffer, y, w int) int {
	title(b, y, "Incremental sync (10 + 10 changes): time against collection size (log-log; -- = 20 ms target)")
	y += 30
	series := map[string][][2]float64{}
	for _, res := range r.Results {
		switch res.Workload {
		case WorkIncremental:
			series[res.System] = append(series[res.System], [2]float64{float64(res.Size), res.Millis.Median})
		case WorkIncrementalWarm:
			name := res.System + " (warm)"
			series[name] = append(series[name], [2]float64{float64(res.Size), res.Millis.Median})
		}
	}
	if len(series) == 0 {
		return y + 10
	}
	const left, h = 230, 240
	plotW := float64(w - left - 120)
	xlo, xhi := 1e3, 1e7
	ylo, yhi := 1.0, 1e4
	for _, pts := range series {
		for _, p := range pts {
			for p[1] >= yhi {
				yhi *= 10
			}
			for p[1] < ylo && ylo > 0.01 {
				ylo /= 10
			}
		}
	}
	xOf := func(v float64) float64 { return float64(left) + plotW*math.Log10(v/xlo)/math.Log10(xhi/xlo) }
	yOf := func(v float64) float64 {
		v = math.Max(v, ylo)
		return float64(y+h) - float64(h)*math.Log10(v/ylo)/math.Log10(yhi/ylo)
	}
	for d := xlo; d <= xhi*1.0001; d *= 10 {
		x := xOf(d)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e2e8f0"/>`+"\n", x, y, x, y+h)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#718096" font-size="10">%s</text>`+"\n", x, y+h+14, axisCount(d))
	}
	for d := ylo; d <= yhi*1.0001; d *= 10 {
		yy := yOf(d)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e2e8f0"/>`+"\n", left, yy, float64(left)+plotW, yy)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end" fill="#718096" font-size="10">%g ms</text>`+"\n", left-6, yy+4, d)
	}
	yt := yOf(20)
	fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black" stroke-dasharray="6 4"/>`+"\n", left, yt, float64(left)+plotW, yt)
	names := make([]string, 0, len(series))
	for name := range series {
		names = append(names, name)
	}
	sort.Strings(names)
	for k, name := range names {
		pts := series[name]
		sort.Slice(pts, func(i, j int) bool { return pts[i][0] < pts[j][0] })
		col := colPeer
		switch {
		case name == Syncprint:
			col = colSP
		case strings.HasPrefix(name, Syncprint):
			col = colSPWarm
		}
		var path strings.Builder
		for i, p := range pts {
			fmt.Fprintf(&path, "%s%.1f,%.1f ", map[bool]string{true: "M", false: "L"}[i == 0], xOf(p[0]), yOf(p[1]))
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/>`+"\n", xOf(p[0]), yOf(p[1]), col)
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="10" fill="%s">%s</text>`+"\n", xOf(p[0])+6, yOf(p[1])-6, col, esc(fmt.Sprintf("%.1f ms", p[1])))
		}
		fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.TrimSpace(path.String()), col)
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", 20, y+10+k*20, col, 38, y+21+k*20, esc(name))
	}
	return y + h + 30
}

// axisCount labels a power of ten: 1k, 10k, 1M.
func axisCount(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%gM", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%gk", x/1e3)
	}
	return fmt.Sprintf("%g", x)
}

func title(b *bytes.Buffer, y int, s string) {
	fmt.Fprintf(b, `<text x="10" y="%d" font-size="14" font-weight="bold">%s</text>`+"\n", y+20, esc(s))
}
