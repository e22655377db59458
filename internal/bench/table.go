package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the report as terminal tables: every result, the
// many-clients figures, the ratios against the peer, the floor, the scale
// transfers and the targets.
func (r *Report) WriteTable(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "machine: %s, %d cores, %s memory, %s, %s", m.CPU, m.Cores, fmtBytes(m.MemoryBytes), m.OS, m.Go)
	if m.Node != "" {
		fmt.Fprintf(w, ", node %s, %s", m.Node, m.PouchDB)
	}
	if m.LoadStart != "" {
		fmt.Fprintf(w, "\nload average: %s at the start, %s at the end (other work on the machine)", m.LoadStart, m.LoadEnd)
		if m.FreshMemoryMsPerMB > 0 {
			fmt.Fprintf(w, "\nfresh memory: the first write to a page costs %.2f ms per MB here (a new process pays it for every page it uses)", m.FreshMemoryMsPerMB)
		}
	}
	if l := r.Settings.link(); !l.IsZero() {
		fmt.Fprintf(w, "\nlink: %s, emulated by the proxy: one path per device, shared by its connections (in many, every device its own); a new connection pays one round trip more", l)
	}
	warm := ""
	if n := r.Settings.WarmupRuns; n > 0 {
		warm = fmt.Sprintf(", each after %d untimed run(s) of the same step by the same system (many: its own warm-up)", n)
	}
	fmt.Fprintf(w, "\ncontent: %d B items (%s); times are the median of the runs [min-max]%s; cpu is client + server CPU time; bytes counted on the sockets\n\n", r.Settings.Size, r.Settings.Content, warm)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tsystem\truns\ttime ms\t[min-max]\tcpu ms\titems/s\tbytes up\tbytes down\twire/min\tserver RSS\tclient RSS\tverified\t")
	for _, res := range r.Results {
		t := fmt.Sprintf("%.1f", res.Millis.Median)
		span := fmt.Sprintf("[%.1f-%.1f]", res.Millis.Min, res.Millis.Max)
		if res.Many != nil {
			t, span = fmt.Sprintf("%.1f s", res.Many.Seconds), "(fixed)"
		}
		ok := "yes"
		if !res.Verified {
			ok = "NO"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			strings.TrimSpace(res.key()), res.System, res.Runs, t, span, res.CPUMillis.Median, fmtCount(res.ItemsPerSec),
			fmtBytes(res.BytesUp), fmtBytes(res.BytesDown), fmtRatio(res.WireRatio),
			fmtBytes(res.ServerPeak), fmtBytes(res.ClientPeak), ok)
	}
	tw.Flush()

	r.writeFaults(w)
	r.writeProbe(w)

	var many []*Result
	for _, res := range r.Results {
		if res.Many != nil {
			many = append(many, res)
		}
	}
	if len(many) > 0 {
		warm := ""
		if r.Settings.ManyWarmup != "" && r.Settings.ManyWarmup != "0s" {
			warm = " after " + r.Settings.ManyWarmup + " of the same load, not measured"
		}
		fmt.Fprintf(w, "\nmany clients: %d clients, %d edits per sync every %s, for %s%s\n", r.Settings.ManyClients, r.Settings.ManyEdits, r.Settings.ManyInterval, r.Settings.ManyDuration, warm)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "workload\tsystem\tsyncs\terrors\tedited\tapplied\toffered/s\tapplied/s\tsession p50 ms\tp99 ms\tmax ms\texchange p50 ms\tp99 ms\t")
		for _, res := range many {
			x := res.Many
			ex50, ex99 := "-", "-"
			if x.Exchanges > 0 {
				ex50, ex99 = fmt.Sprintf("%.1f", x.ExchangeP50), fmt.Sprintf("%.1f", x.ExchangeP99)
			}
			offered := "max"
			if x.Offered > 0 {
				offered = fmtCount(x.Offered)
			}
			smax := fmt.Sprintf("%.1f", x.SyncMax)
			if x.SyncMax == 0 {
				smax = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%.1f\t%.1f\t%s\t%s\t%s\t\n", res.Workload, res.System, x.Syncs, x.Errors, x.Edited, x.Applied,
				offered, fmtCount(res.ItemsPerSec), x.SyncP50, x.SyncP99, smax, ex50, ex99)
			if x.FirstError != "" {
				fmt.Fprintf(tw, "  first error: %s\t\n", x.FirstError)
			}
		}
		tw.Flush()
	}

	if len(r.Comparisons) > 0 {
		fmt.Fprintln(w, "\nSyncprint / peer (time: lower is better; speedup = peer time / Syncprint time)")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "workload\tspeedup\ttime\tcpu\tbytes\tserver RSS\tclient RSS\tapplied/s\tp99\t")
		for _, c := range r.Comparisons {
			sp, tr, th, lat := fmt.Sprintf("%.1fx", c.Speedup), fmtRatio(c.TimeRatio), "-", "-"
			if c.ThroughputRatio > 0 {
				sp, tr, th, lat = "-", "-", fmtRatio(c.ThroughputRatio), fmtRatio(c.LatencyP99Ratio)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", strings.TrimSpace(c.Workload+c.Variant), sp, tr,
				fmtRatio(c.CPURatio), fmtRatio(c.BytesRatio), fmtRatio(c.ServerMemRatio), fmtRatio(c.ClientMemRatio), th, lat)
		}
		tw.Flush()
	}

	for _, f := range r.Floors {
		fmt.Fprintf(w, "\nfloor of %s (%d items, %d commits of %d: %s): %.1f ms [%.1f-%.1f]", f.Workload, f.Items, f.Commits, f.Batch, f.Note,
			f.Millis.Median, f.Millis.Min, f.Millis.Max)
		if np := f.NewProcess; np != nil {
			fmt.Fprintf(w, "; in a new process, as the steps are timed: %.1f ms [%.1f-%.1f]", np.Median, np.Min, np.Max)
		}
	}
	if len(r.Floors) > 0 {
		fmt.Fprintln(w)
	}
	if len(r.Scale) > 0 {
		fmt.Fprintln(w, "\nbuilding the incremental collections (untimed setup, one run each)")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "system\titems\ttransfer\tms\titems/s\tbytes\tserver RSS\tclient RSS\tserver anon\tclient anon\t")
		for _, s := range r.Scale {
			for _, x := range []struct {
				name string
				f    ScaleFigure
			}{{"push all", s.Push}, {"pull all", s.Pull}} {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t\n", s.System, s.Items, x.name, x.f.Millis,
					fmtCount(float64(s.Items)/(x.f.Millis/1000)), fmtBytes(x.f.Up+x.f.Down), fmtBytes(x.f.ServerPeak), fmtBytes(x.f.ClientPeak),
					fmtBytes(x.f.ServerPeakAnon), fmtBytes(x.f.ClientPeakAnon))
			}
		}
		tw.Flush()
	}

	if len(r.Targets) > 0 {
		fmt.Fprintln(w, "\ntargets")
		for _, t := range r.Targets {
			got := t.Got
			if got == "" {
				got = "-"
			}
			fmt.Fprintf(w, "  %-12s %s: want %s; got %s\n", "["+t.Status+"]", t.Name, t.Want, got)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

// writeFaults writes the page faults of the timed steps, and what they
// cost at the fresh-memory price measured on this machine: the share of a
// new process's time that is its first touches of memory. Reports made
// before the harness counted them have none, and no table.
func (r *Report) writeFaults(w io.Writer) {
	var counted bool
	for _, res := range r.Results {
		counted = counted || res.ClientFaults > 0 || res.ServerFaults > 0
	}
	if !counted {
		return
	}
	perPage := r.Machine.FreshMemoryMsPerMB * 4096 / (1 << 20) // ms
	fmt.Fprintf(w, "\npage faults in the timed step (median; minor faults: first touches of memory and of mapped store pages")
	if perPage > 0 {
		fmt.Fprintf(w, "; ms at the fresh-memory price of %.0f us a page", perPage*1000)
	}
	fmt.Fprintln(w, ")")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tsystem\tclient faults\tclient ms\tserver faults\tserver ms\t")
	cost := func(n int64) string {
		if perPage <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f", float64(n)*perPage)
	}
	for _, res := range r.Results {
		if res.Many != nil {
			continue // a fixed-time run of many clients: not a step's cost
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t\n", strings.TrimSpace(res.key()), res.System,
			res.ClientFaults, cost(res.ClientFaults), res.ServerFaults, cost(res.ServerFaults))
	}
	tw.Flush()
}

// writeProbe writes the CPU probe's time before the timed steps (probe.go),
// per workload and system, against the fastest probe of the run: how fast
// the CPU was when the steps started. Reports made before the harness had
// the probe have none, and no table.
func (r *Report) writeProbe(w io.Writer) {
	fastest := 0.0
	for _, res := range r.Results {
		if res.Probe != nil && res.Probe.Min > 0 && (fastest == 0 || res.Probe.Min < fastest) {
			fastest = res.Probe.Min
		}
	}
	if fastest == 0 {
		return
	}
	fmt.Fprintf(w, "\nthe machine's speed when each timed step started (a fixed CPU-bound probe in the harness: %d BLAKE3 hashes of %d KiB from the cache; the fastest of this run took %.2f ms; a slower probe is a slower CPU at that moment)\n",
		probeRounds, probeBytes>>10, fastest)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tsystem\tprobe ms\t[min-max]\tmedian / fastest\t")
	for _, res := range r.Results {
		if res.Probe == nil {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t[%.2f-%.2f]\t%.2fx\t\n", strings.TrimSpace(res.key()), res.System,
			res.Probe.Median, res.Probe.Min, res.Probe.Max, res.Probe.Median/fastest)
	}
	tw.Flush()
}

func fmtRatio(x float64) string {
	switch {
	case x == 0:
		return "-"
	case x < 0.1:
		return fmt.Sprintf("%.3fx", x)
	}
	return fmt.Sprintf("%.2fx", x)
}

func fmtCount(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case x >= 1e4:
		return fmt.Sprintf("%.1fk", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}
