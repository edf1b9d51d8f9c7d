package analysis

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"cadbox/app"
	"cadbox/app/fixture"
)

// genLog is a ChangeLog over n generated incidents that are made on the
// fly, so a million of them never sit in memory as documents.
type genLog struct {
	g *fixture.Generator
	n int
}

func (l genLog) Changes(context.Context, uint64, int) ([]app.Change, error) { return nil, nil }
func (l genLog) LastSeq(context.Context) (uint64, error)                    { return 0, nil }
func (l genLog) Scan(ctx context.Context, fn func(*app.Incident) error) error {
	for i := 0; i < l.n; i++ {
		if err := fn(l.g.Incident(i)); err != nil {
			return err
		}
	}
	return nil
}

// benchIncidents is CADBOX_BENCH_INCIDENTS (default 100000).
func benchIncidents(tb testing.TB) int {
	n := 100000
	if s := os.Getenv("CADBOX_BENCH_INCIDENTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			tb.Fatalf("CADBOX_BENCH_INCIDENTS=%q is not a positive number", s)
		}
		n = v
	}
	return n
}

type benchSetup struct {
	e          *Engine
	heapBytes  uint64
	buildTime  time.Duration
	incidents  int
	unitsTotal int
}

// benchEngine builds the engine once per test binary run (the build of
// a million incidents takes a while).
var benchEngine = sync.OnceValues(func() (*benchSetup, error) {
	n := 100000
	if s := os.Getenv("CADBOX_BENCH_INCIDENTS"); s != "" {
		if v, err := strconv.Atoi(s); err == nil && v > 0 {
			n = v
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	e, err := New(genLog{g: fixture.New(1), n: n}, Config{})
	if err != nil {
		return nil, err
	}
	if err := e.Build(context.Background()); err != nil {
		return nil, err
	}
	took := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	sz := e.Size()
	return &benchSetup{e: e, heapBytes: after.HeapAlloc - min(before.HeapAlloc, after.HeapAlloc), buildTime: took, incidents: sz.Incidents, unitsTotal: sz.UnitResponses}, nil
})

func setup(b *testing.B) *benchSetup {
	b.Helper()
	benchIncidents(b)
	s, err := benchEngine()
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// year is the first year of the generated data.
var yearFilter = Filter{From: time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC)}

// BenchmarkBuild reports the memory the tables take per unit response
// (heap growth across the build, measured after a GC) and the engine's own
// estimate.
func BenchmarkBuild(b *testing.B) {
	s := setup(b)
	for b.Loop() {
	}
	b.ReportMetric(float64(s.heapBytes)/float64(s.unitsTotal), "heap-B/unit-response")
	b.ReportMetric(float64(s.e.Size().Bytes)/float64(s.unitsTotal), "est-B/unit-response")
	b.ReportMetric(float64(s.unitsTotal)/float64(s.incidents), "units/incident")
	b.ReportMetric(float64(s.incidents), "incidents")
	b.ReportMetric(s.buildTime.Seconds(), "build-s")
}

func BenchmarkP90TurnoutByUnit(b *testing.B) {
	s := setup(b)
	for _, c := range []struct {
		name string
		f    Filter
	}{{"year", yearFilter}, {"all", Filter{}}} {
		b.Run(c.name, func(b *testing.B) {
			q := Query{Filter: c.f, GroupBy: []Dimension{ByUnit}}
			var rows int
			for b.Loop() {
				res, err := s.e.Durations(context.Background(), q, []Metric{Turnout})
				if err != nil {
					b.Fatal(err)
				}
				rows = len(res.Rows)
			}
			if rows == 0 {
				b.Fatal("no rows")
			}
		})
	}
}

func BenchmarkHeatmap(b *testing.B) {
	s := setup(b)
	for _, c := range []struct {
		name string
		f    Filter
	}{{"year", yearFilter}, {"all", Filter{}}, {"station", Filter{Station: "FSTA5"}}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				res, err := s.e.Heatmap(context.Background(), c.f, false)
				if err != nil {
					b.Fatal(err)
				}
				if res.Total == 0 {
					b.Fatal("empty heatmap")
				}
			}
		})
	}
}

func BenchmarkNFPA1710ByStation(b *testing.B) {
	s := setup(b)
	q := Query{Filter: yearFilter, GroupBy: []Dimension{ByStation}}
	for b.Loop() {
		if _, err := s.e.NFPA1710(context.Background(), q, Thresholds{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConcurrency(b *testing.B) {
	s := setup(b)
	q := Query{Filter: yearFilter}
	for b.Loop() {
		if _, err := s.e.Concurrency(context.Background(), q); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUtilizationByUnit(b *testing.B) {
	s := setup(b)
	q := Query{Filter: yearFilter, GroupBy: []Dimension{ByUnit}}
	for b.Loop() {
		if _, err := s.e.Utilization(context.Background(), q); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIncidentMetrics computes every metric of one incident (what
// the per-incident endpoint does after reading the store).
func BenchmarkIncidentMetrics(b *testing.B) {
	e, err := New(newMemLog(), Config{})
	if err != nil {
		b.Fatal(err)
	}
	inc := fixture.New(1).Incident(12345)
	for b.Loop() {
		if im := e.Metrics(inc); len(im.Units) == 0 {
			b.Fatal("no units")
		}
	}
}
