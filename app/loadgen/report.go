package loadgen

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// KindStats summarises one kind of operation.
type KindStats struct {
	Kind      Kind
	Count     int
	Failures  int64
	PerSecond float64
	// Latency percentiles (nearest rank) and the maximum.
	P50, P95, P99, Max time.Duration
}

// Report is the outcome of a Run.
type Report struct {
	Elapsed      time.Duration
	Clients      int
	Ops          int
	Kinds        []KindStats // the kinds that ran, in Kinds order
	Failures     []Failure   // the first ones
	FailureCount int64
	Incidents    int   // distinct incidents acknowledged (preload included)
	WrittenBytes int64 // raw bytes of acknowledged writes (preload included)
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the
// nearest-rank method, or 0 when sorted is empty.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func (r *Runner) report(elapsed time.Duration) *Report {
	failures, n := r.Failures()
	rep := &Report{Elapsed: elapsed, Clients: r.cfg.Clients, Failures: failures, FailureCount: n,
		Incidents: r.reg.len(), WrittenBytes: r.written.Load()}
	perKind := map[Kind]int64{}
	for _, f := range failures {
		perKind[f.Kind]++
	}
	for _, k := range Kinds {
		var all []time.Duration
		for _, lat := range r.lat {
			all = append(all, lat[k]...)
		}
		if len(all) == 0 {
			continue
		}
		slices.Sort(all)
		rep.Ops += len(all)
		rep.Kinds = append(rep.Kinds, KindStats{Kind: k, Count: len(all), Failures: perKind[k],
			PerSecond: float64(len(all)) / elapsed.Seconds(),
			P50:       Percentile(all, 50), P95: Percentile(all, 95), P99: Percentile(all, 99), Max: all[len(all)-1]})
	}
	return rep
}

// Markdown returns the report as a Markdown table, one row per kind, with
// a summary line. Failures per kind count the failures kept (the first
// ones); the total counts them all.
func (rep *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d clients for %s: %d requests (%.0f/s), %d failures; %d incidents acknowledged, %.1f MB written\n\n",
		rep.Clients, rep.Elapsed.Round(time.Second), rep.Ops, float64(rep.Ops)/rep.Elapsed.Seconds(), rep.FailureCount,
		rep.Incidents, float64(rep.WrittenBytes)/1e6)
	b.WriteString("| operation | requests | per second | p50 | p95 | p99 | max | failures |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, k := range rep.Kinds {
		fmt.Fprintf(&b, "| %s | %d | %.1f | %s | %s | %s | %s | %d |\n", k.Kind, k.Count, k.PerSecond,
			ms(k.P50), ms(k.P95), ms(k.P99), ms(k.Max), k.Failures)
	}
	return b.String()
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}
