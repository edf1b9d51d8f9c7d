package analysis

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"cadbox/app"
	"cadbox/app/fixture"
)

// corpus returns n fixture incidents, some corrupted so that every flag
// occurs: swapped dispatched/enroute (negative turnout), a wrong
// extended_data turnout (disagrees), a dropped enroute (missing).
func corpus(n int, seed uint64) []*app.Incident {
	g := fixture.New(seed)
	out := make([]*app.Incident, n)
	for i := range out {
		inc := g.Incident(i)
		if len(inc.Apparatus) > 0 {
			a := inc.Apparatus[0]
			d, e := a.UnitStatus["dispatched"], a.UnitStatus["enroute"]
			switch {
			case i%7 == 3 && d != nil && e != nil:
				a.UnitStatus["dispatched"], a.UnitStatus["enroute"] = e, d
			case i%11 == 5 && d != nil && e != nil:
				v := float64(e.Timestamp.Time().Sub(d.Timestamp.Time())/time.Second) + 10
				a.ExtendedData = &app.UnitExtendedData{TurnoutDuration: &v}
			case i%13 == 6:
				delete(a.UnitStatus, "enroute")
			}
		}
		out[i] = inc
	}
	return out
}

// brute computes aggregates directly from IncidentMetrics, independently
// of the columnar tables.
type brute struct {
	ims []*IncidentMetrics
}

func newBrute(tb testing.TB, incs []*app.Incident, cfg Config) *brute {
	tb.Helper()
	b := &brute{}
	for _, inc := range incs {
		im, err := Compute(inc, cfg)
		if err != nil {
			tb.Fatal(err)
		}
		b.ims = append(b.ims, im)
	}
	return b
}

func (b *brute) incOK(im *IncidentMetrics, f Filter) bool {
	return (f.Department == "" || im.ID.Department == f.Department) &&
		(len(f.Departments) == 0 || slices.Contains(f.Departments, im.ID.Department)) &&
		(f.Type == "" || im.Type == f.Type) && (f.Subtype == "" || im.Subtype == f.Subtype) &&
		(f.From.IsZero() || !im.EventOpened.Before(f.From)) && (f.To.IsZero() || im.EventOpened.Before(f.To))
}

func unitOK(u *UnitMetrics, f Filter, withShift bool) bool {
	return (f.UnitID == "" || u.UnitID == f.UnitID) && (f.Station == "" || u.Station == f.Station) &&
		(!withShift || f.Shift == "" || u.Shift == f.Shift)
}

func labels(im *IncidentMetrics, u *UnitMetrics, dims []Dimension, unitShift bool) string {
	var parts []string
	for _, d := range dims {
		var s string
		switch d {
		case ByDepartment:
			s = im.ID.Department
		case ByType:
			s = im.Type
		case BySubtype:
			s = im.Subtype
		case ByHour:
			s = fmt.Sprintf("%02d", im.Local.Hour)
		case ByWeekday:
			s = im.Local.Weekday.String()
		case ByMonth:
			s = fmt.Sprintf("%04d-%02d", im.Local.Year, int(im.Local.Month))
		case ByShift:
			s = im.Shift
			if unitShift {
				s = u.Shift
			}
		case ByUnit, ByUnitType, ByStation:
			if u != nil {
				s = map[Dimension]string{ByUnit: u.UnitID, ByUnitType: u.UnitType, ByStation: u.Station}[d]
			}
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "|")
}

type bcell struct {
	vals []float64
	excl Excluded
}

func (c *bcell) add(v *Value, include bool) {
	r := v.Reason()
	if r == OK || (include && r != Missing) {
		c.vals = append(c.vals, float64(v.Seconds))
	} else {
		c.excl[r]++
	}
}

// values collects metric m per group label, with the engine's
// attribution rules; class 0 any, 1 EMS, 2 fire.
func (b *brute) values(q Query, m Metric, class uint8) map[string]*bcell {
	out := map[string]*bcell{}
	get := func(k string) *bcell {
		if out[k] == nil {
			out[k] = &bcell{}
		}
		return out[k]
	}
	for _, im := range b.ims {
		if !b.incOK(im, q.Filter) || (class == classEMS && !im.EMS) || (class == classFire && im.EMS) {
			continue
		}
		if m.IsUnit() {
			for k := range im.Units {
				u := &im.Units[k]
				if unitOK(u, q.Filter, true) {
					get(labels(im, u, q.GroupBy, true)).add(u.Value(m), q.IncludeFlagged)
				}
			}
			continue
		}
		if q.Shift != "" && im.Shift != q.Shift {
			continue
		}
		idx := im.FirstArriving
		if m == FirstEngineTravel {
			idx = im.FirstEngine
		}
		var u *UnitMetrics
		if idx >= 0 {
			u = &im.Units[idx]
		}
		if (q.UnitID != "" || q.Station != "") && (u == nil || !unitOK(u, q.Filter, false)) {
			continue
		}
		get(labels(im, u, q.GroupBy, false)).add(im.Value(m), q.IncludeFlagged)
	}
	return out
}

func closeTo(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b))
}

func checkStat(t *testing.T, what string, got *Stat, want *bcell, ps []float64) {
	t.Helper()
	if got.Count != int64(len(want.vals)) || got.Excluded != want.excl {
		t.Fatalf("%s: count %d excluded %v, want %d %v", what, got.Count, got.Excluded, len(want.vals), want.excl)
	}
	if len(want.vals) == 0 {
		return
	}
	var sum float64
	for _, v := range want.vals {
		sum += v
	}
	if !closeTo(got.Mean(), sum/float64(len(want.vals))) || float64(got.Min) != slices.Min(want.vals) || float64(got.Max) != slices.Max(want.vals) {
		t.Fatalf("%s: mean %v min %d max %d", what, got.Mean(), got.Min, got.Max)
	}
	for i, p := range ps {
		if w := numpyPercentile(want.vals, p); !closeTo(got.Percentiles[i], w) {
			t.Fatalf("%s: p%v = %v, want %v", what, p, got.Percentiles[i], w)
		}
	}
}

// randomQuery picks filters from values present in the data.
func randomQuery(r *rand.Rand, b *brute) Query {
	var q Query
	dims := []Dimension{ByDepartment, ByUnit, ByUnitType, ByStation, ByType, BySubtype, ByShift, ByHour, ByWeekday, ByMonth}
	r.Shuffle(len(dims), func(i, j int) { dims[i], dims[j] = dims[j], dims[i] })
	q.GroupBy = dims[:r.IntN(3)]
	im := b.ims[r.IntN(len(b.ims))]
	switch r.IntN(6) {
	case 0, 1, 2:
		q.Department = im.ID.Department
	case 3:
		q.Departments = []string{im.ID.Department, "nope"}
	}
	if r.IntN(4) == 0 {
		q.Type = im.Type
	}
	if r.IntN(8) == 0 {
		q.Subtype = im.Subtype
	}
	if len(im.Units) > 0 {
		u := im.Units[r.IntN(len(im.Units))]
		switch r.IntN(6) {
		case 0:
			q.UnitID = u.UnitID
		case 1:
			q.Station = u.Station
		case 2:
			q.Shift = u.Shift
		}
	}
	if r.IntN(3) == 0 {
		q.From = im.EventOpened.Add(-time.Duration(r.IntN(100)) * time.Hour)
		q.To = q.From.Add(time.Duration(1+r.IntN(200)) * time.Hour)
	}
	q.IncludeFlagged = r.IntN(3) == 0
	extra := []float64{75, 95, 99.9, 0, 100, 33.3}
	q.Percentiles = extra[:r.IntN(len(extra))]
	return q
}

func TestDurationsMatchBruteForce(t *testing.T) {
	incs := corpus(9000, 11) // three blocks: block skipping and parallel merges are exercised
	e, _ := newEngine(t, Config{}, incs...)
	parallelize(e, 3) // odd split: the merge of the workers' groups is tested too
	b := newBrute(t, incs, Config{})
	r := rand.New(rand.NewPCG(1, 2))
	metrics := Metrics()
	nonEmpty := 0
	for i := 0; i < 150; i++ {
		q := randomQuery(r, b)
		ms := []Metric{metrics[r.IntN(len(metrics))], metrics[r.IntN(len(metrics))]}
		if ms[0] == ms[1] {
			ms = ms[:1]
		}
		res, err := e.Durations(context.Background(), q, ms)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			want := b.values(q, m, classAny)
			seen := 0
			for k := range res.Rows {
				row := &res.Rows[k]
				if row.Metric != m {
					continue
				}
				key := strings.Join(row.Group, "|")
				w := want[key]
				if w == nil {
					if row.Count != 0 || row.Excluded.Total() != 0 {
						t.Fatalf("query %+v %s: unexpected group %q", q, m, key)
					}
					continue
				}
				seen++
				checkStat(t, fmt.Sprintf("query %d %s group %q", i, m, key), &row.Stat, w, res.Percentiles)
				if len(w.vals) > 0 {
					nonEmpty++
				}
			}
			if seen != len(want) {
				t.Fatalf("query %d %+v %s: %d groups, want %d", i, q, m, seen, len(want))
			}
		}
	}
	if nonEmpty < 100 {
		t.Fatalf("only %d non-empty cells checked: the queries are too narrow to test anything", nonEmpty)
	}
}

func TestNFPA1710MatchesBruteForce(t *testing.T) {
	incs := corpus(2000, 5)
	e, _ := newEngine(t, Config{}, incs...)
	parallelize(e, 2)
	b := newBrute(t, incs, Config{})
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 40; i++ {
		q := randomQuery(r, b)
		th := Thresholds{TurnoutEMS: int64(40 + r.IntN(40))}
		res, err := e.NFPA1710(context.Background(), q, th)
		if err != nil {
			t.Fatal(err)
		}
		if res.Thresholds.TurnoutEMS != th.TurnoutEMS || res.Thresholds.TurnoutFire != 80 || res.Thresholds.FirstEngineTravel != 240 || res.Thresholds.AlarmProcessing != 64 {
			t.Fatalf("thresholds %+v", res.Thresholds)
		}
		specs := map[Measure]struct {
			m     Metric
			class uint8
			thr   int64
		}{
			MeasureTurnoutEMS:        {Turnout, classEMS, th.TurnoutEMS},
			MeasureTurnoutFire:       {Turnout, classFire, 80},
			MeasureFirstEngineTravel: {FirstEngineTravel, classAny, 240},
			MeasureAlarmProcessing:   {AlarmProcessing, classAny, 64},
		}
		cache := map[Measure]map[string]*bcell{}
		for _, row := range res.Rows {
			sp := specs[row.Measure]
			if cache[row.Measure] == nil {
				cache[row.Measure] = b.values(q, sp.m, sp.class)
			}
			w := cache[row.Measure][strings.Join(row.Group, "|")]
			if w == nil {
				w = &bcell{}
			}
			checkStat(t, fmt.Sprintf("%d %s %v", i, row.Measure, row.Group), &row.Stat, w, res.Percentiles)
			var ok int64
			for _, v := range w.vals {
				if v <= float64(sp.thr) {
					ok++
				}
			}
			if row.Compliant != ok || row.Threshold != sp.thr {
				t.Fatalf("%s %v: compliant %d, want %d", row.Measure, row.Group, row.Compliant, ok)
			}
			if row.Count > 0 && (!closeTo(row.Share, float64(ok)/float64(row.Count)) || row.MeetsGoal != (row.Share >= 0.9)) {
				t.Fatalf("share %v", row.Share)
			}
		}
	}
}

func TestCountsAndConcurrencyMatchBruteForce(t *testing.T) {
	incs := corpus(2500, 8)
	e, _ := newEngine(t, Config{}, incs...)
	b := newBrute(t, incs, Config{})
	// Brute-force concurrency: other incidents of the department opened
	// strictly earlier and ending strictly later.
	type span struct {
		dept       string
		open, end  int64
		hasEnd     bool
		concurrent int
	}
	spans := make([]span, len(b.ims))
	for i, im := range b.ims {
		spans[i] = span{dept: im.ID.Department, open: im.EventOpened.Unix(), end: im.end, hasEnd: im.hasEnd}
	}
	for i := range spans {
		for j := range spans {
			if i != j && spans[j].dept == spans[i].dept && spans[j].hasEnd && spans[j].open < spans[i].open && spans[j].end > spans[i].open {
				spans[i].concurrent++
			}
		}
	}
	r := rand.New(rand.NewPCG(5, 6))
	anyConc := false
	for i := 0; i < 60; i++ {
		q := randomQuery(r, b)
		counts, err := e.Counts(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		conc, err := e.Concurrency(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		hasUnitDim := slices.ContainsFunc(q.GroupBy, Dimension.IsUnit)
		wantInc, wantUnits := map[string]int64{}, map[string]int64{}
		wantConc := map[string]*bcell{}
		var totalInc int64
		for k, im := range b.ims {
			if !b.incOK(im, q.Filter) {
				continue
			}
			groups := map[string]bool{}
			if hasUnitDim {
				for x := range im.Units {
					u := &im.Units[x]
					if unitOK(u, q.Filter, true) {
						key := labels(im, u, q.GroupBy, true)
						wantUnits[key]++
						groups[key] = true
					}
				}
			} else {
				if q.Shift != "" && im.Shift != q.Shift {
					continue
				}
				var n int64
				for x := range im.Units {
					if unitOK(&im.Units[x], q.Filter, false) {
						n++
					}
				}
				if (q.UnitID != "" || q.Station != "") && n == 0 {
					continue
				}
				key := labels(im, nil, q.GroupBy, false)
				wantUnits[key] += n
				groups[key] = true
			}
			if len(groups) > 0 {
				totalInc++
			}
			for key := range groups {
				wantInc[key]++
				if wantConc[key] == nil {
					wantConc[key] = &bcell{}
				}
				wantConc[key].vals = append(wantConc[key].vals, float64(spans[k].concurrent))
				anyConc = anyConc || spans[k].concurrent > 0
			}
		}
		if counts.Incidents != totalInc || len(counts.Rows) != len(wantInc) {
			t.Fatalf("query %+v: %d incidents in %d groups, want %d in %d", q, counts.Incidents, len(counts.Rows), totalInc, len(wantInc))
		}
		for _, row := range counts.Rows {
			key := strings.Join(row.Group, "|")
			if row.Incidents != wantInc[key] || row.UnitResponses != wantUnits[key] {
				t.Fatalf("query %+v group %q: %d/%d, want %d/%d", q, key, row.Incidents, row.UnitResponses, wantInc[key], wantUnits[key])
			}
		}
		if len(conc.Rows) != len(wantConc) {
			t.Fatalf("concurrency: %d groups, want %d", len(conc.Rows), len(wantConc))
		}
		for _, row := range conc.Rows {
			key := strings.Join(row.Group, "|")
			checkStat(t, "concurrency "+key, &row.Stat, wantConc[key], conc.Percentiles)
		}
	}
	if !anyConc {
		t.Fatal("no incident overlapped another: the concurrency test checks nothing")
	}
}

func TestHeatmap(t *testing.T) {
	incs := corpus(2000, 9)
	e, _ := newEngine(t, Config{}, incs...)
	b := newBrute(t, incs, Config{})
	f := Filter{Department: "38005"}
	res, err := e.Heatmap(context.Background(), f, false)
	if err != nil {
		t.Fatal(err)
	}
	var want [7][24]int64
	var total int64
	for _, im := range b.ims {
		if b.incOK(im, f) {
			want[(int(im.Local.Weekday)+6)%7][im.Local.Hour]++
			total++
		}
	}
	if res.Cells != want || res.Total != total || total == 0 {
		t.Fatalf("heatmap %v (total %d), want %v (%d)", res.Cells, res.Total, want, total)
	}
}

// The same two instants land in different cells in US/Eastern and
// US/Pacific, and both 01:30s of the fall-back day are 01h Sunday.
func TestHeatmapTimeZones(t *testing.T) {
	edt := time.Date(2017, 11, 5, 5, 30, 0, 0, time.UTC)
	est := time.Date(2017, 11, 5, 6, 30, 0, 0, time.UTC)
	e, _ := newEngine(t, Config{},
		mk("east", "A1", "US/Eastern", edt, "X", 60), mk("east", "A2", "US/Eastern", est, "X", 60),
		mk("west", "B1", "US/Pacific", edt, "X", 60), mk("west", "B2", "US/Pacific", est, "X", 60))
	east, err := e.Heatmap(context.Background(), Filter{Department: "east"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if east.Cells[6][1] != 2 || east.Total != 2 {
		t.Fatalf("east: Sunday 01h = %d, total %d", east.Cells[6][1], east.Total)
	}
	west, err := e.Heatmap(context.Background(), Filter{Department: "west"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if west.Cells[5][22] != 1 || west.Cells[5][23] != 1 || west.Total != 2 {
		t.Fatalf("west: Saturday 22h %d 23h %d", west.Cells[5][22], west.Cells[5][23])
	}
	res, err := e.Counts(context.Background(), Query{GroupBy: []Dimension{ByDepartment, ByHour, ByMonth}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res.Rows {
		got = append(got, fmt.Sprintf("%s %d", strings.Join(r.Group, "/"), r.Incidents))
	}
	if want := []string{"east/01/2017-11 2", "west/22/2017-11 1", "west/23/2017-11 1"}; !slices.Equal(got, want) {
		t.Fatalf("counts %v, want %v", got, want)
	}
}

func TestUtilization(t *testing.T) {
	day := time.Date(2017, 11, 5, 0, 0, 0, 0, time.UTC)
	loc, _ := time.LoadLocation("US/Eastern")
	// Two units of station S1 committed 600 s and 1200 s; E2 30 s of which
	// is flagged (cleared before arrival).
	incs := []*app.Incident{
		mk("1", "A", "US/Eastern", time.Date(2017, 11, 5, 1, 30, 0, 0, loc), "X", 2000,
			unitSpec{id: "E1", station: "S1", st: map[string]int{"dispatched": 0, "enroute": 30, "arrived": 300, "cleared": 600}},
			unitSpec{id: "E2", station: "S1", st: map[string]int{"dispatched": 0, "enroute": 30, "arrived": 300, "cleared": 1200}}),
		mk("1", "B", "US/Eastern", time.Date(2017, 11, 5, 9, 0, 0, 0, loc), "X", 2000,
			unitSpec{id: "E1", station: "S1", st: map[string]int{"dispatched": 0, "enroute": 30, "arrived": 300, "cleared": 900}},
			unitSpec{id: "E2", station: "S1", st: map[string]int{"dispatched": 0, "enroute": 30, "arrived": 300, "cleared": 30}}),
	}
	e, _ := newEngine(t, Config{}, incs...)
	from := time.Date(2017, 11, 5, 0, 0, 0, 0, loc)
	to := time.Date(2017, 11, 6, 0, 0, 0, 0, loc) // 25 hours: fall back
	res, err := e.Utilization(context.Background(), Query{Filter: Filter{From: from, To: to}, GroupBy: []Dimension{ByStation}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 1 {
		t.Fatalf("rows %+v", res.Rows)
	}
	row := res.Rows[0]
	if row.Units != 2 || row.UnitResponses != 4 || row.CommittedSeconds != 600+1200+900 || row.PeriodSeconds != 25*3600 || row.Excluded[OutOfOrder] != 1 {
		t.Fatalf("row %+v", row)
	}
	if want := 2700.0 / (2 * 25 * 3600); !closeTo(row.Utilization, want) {
		t.Fatalf("utilization %v, want %v", row.Utilization, want)
	}
	byHour, err := e.Utilization(context.Background(), Query{Filter: Filter{From: from, To: to}, GroupBy: []Dimension{ByUnit, ByHour}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range byHour.Rows {
		wantPeriod := int64(3600)
		if r.Group[1] == "01" {
			wantPeriod = 7200 // 01:00-02:00 happens twice
		}
		if r.PeriodSeconds != wantPeriod {
			t.Errorf("%v: period %d, want %d", r.Group, r.PeriodSeconds, wantPeriod)
		}
	}
	if len(byHour.Rows) != 4 {
		t.Fatalf("rows %+v", byHour.Rows)
	}
	_ = day
}

func TestPeriodBuckets(t *testing.T) {
	loc, _ := time.LoadLocation("US/Eastern")
	e, _ := newEngine(t, Config{}, mk("1", "A", "US/Eastern", time.Date(2017, 3, 12, 12, 0, 0, 0, loc), "X", 10))
	e.mu.RLock()
	defer e.mu.RUnlock()
	g, err := e.t.grouper([]Dimension{ByHour})
	if err != nil {
		t.Fatal(err)
	}
	// Spring forward: 2017-03-12 has no 02h and 23 hours.
	from, to := time.Date(2017, 3, 12, 0, 0, 0, 0, loc), time.Date(2017, 3, 13, 0, 0, 0, 0, loc)
	p, err := g.periodBuckets(context.Background(), from.Unix(), to.Unix(), loc)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, v := range p {
		sum += v
	}
	if sum != 23*3600 || p[2] != 0 || p[3] != 3600 || p[1] != 3600 {
		t.Fatalf("buckets %v (sum %d)", p, sum)
	}
	// Half-hour zone and a period that starts mid-hour.
	kol, _ := time.LoadLocation("Asia/Kolkata")
	p, err = g.periodBuckets(context.Background(), time.Date(2020, 1, 1, 10, 15, 0, 0, kol).Unix(), time.Date(2020, 1, 1, 12, 0, 0, 0, kol).Unix(), kol)
	if err != nil {
		t.Fatal(err)
	}
	if p[10] != 45*60 || p[11] != 3600 || len(p) != 2 {
		t.Fatalf("Kolkata buckets %v", p)
	}
}

// CatchUp applies creations, updates and deletions (and compacts); the
// result equals a fresh build over the final documents.
func TestCatchUp(t *testing.T) {
	incs := corpus(1200, 21)
	e, ml := newEngine(t, Config{}, incs[:600]...)
	e.mu.Lock()
	e.t.compactMin = 10
	e.t.forceWorkers = 4
	e.mu.Unlock()
	ctx := context.Background()
	if err := e.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	ml.put(incs[600:]...)
	if err := e.Ready(ctx); !errors.Is(err, app.ErrBehind) {
		t.Fatalf("ready while behind: %v", err)
	}
	g := fixture.New(21)
	final := map[app.IncidentID]*app.Incident{}
	for _, inc := range incs {
		final[inc.ID()] = inc
	}
	for i := 0; i < 1200; i += 3 {
		up := g.Update(incs[i], fixture.Steps-1)
		final[up.ID()] = up
		ml.put(up)
	}
	for i := 1; i < 1200; i += 5 {
		id := incs[i].ID()
		delete(final, id)
		ml.del(id)
	}
	last, _ := ml.LastSeq(ctx)
	if err := e.CatchUp(ctx, last); err != nil {
		t.Fatal(err)
	}
	if err := e.Ready(ctx); err != nil || e.Applied() != last {
		t.Fatalf("ready %v, applied %d of %d", err, e.Applied(), last)
	}
	if sz := e.Size(); sz.Incidents != len(final) || sz.DeadIncidents >= 1200/4 {
		t.Fatalf("size %+v, want %d incidents and compacted", sz, len(final))
	}
	rest := make([]*app.Incident, 0, len(final))
	for _, inc := range final {
		rest = append(rest, inc)
	}
	fresh, _ := newEngine(t, Config{}, rest...)
	for _, q := range []Query{{}, {GroupBy: []Dimension{ByUnit}}, {GroupBy: []Dimension{ByDepartment, ByMonth}, IncludeFlagged: true}} {
		a, err := e.Durations(ctx, q, Metrics())
		if err != nil {
			t.Fatal(err)
		}
		b, err := fresh.Durations(ctx, q, Metrics())
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Rows) != len(b.Rows) {
			t.Fatalf("%d rows, fresh %d", len(a.Rows), len(b.Rows))
		}
		for i := range a.Rows {
			ra, rb := a.Rows[i], b.Rows[i]
			if !slices.Equal(ra.Group, rb.Group) || ra.Count != rb.Count || ra.Sum != rb.Sum || ra.Excluded != rb.Excluded || !slices.EqualFunc(ra.Percentiles, rb.Percentiles, closeTo) {
				t.Fatalf("row %d: caught up %+v, fresh %+v", i, ra, rb)
			}
		}
	}
	c1, _ := e.Concurrency(ctx, Query{})
	c2, _ := fresh.Concurrency(ctx, Query{})
	if c1.Rows[0].Sum != c2.Rows[0].Sum || c1.Rows[0].Count != c2.Rows[0].Count {
		t.Fatalf("concurrency differs: %+v vs %+v", c1.Rows[0], c2.Rows[0])
	}
	// A deleted incident is gone, a replaced one appears once.
	e.mu.RLock()
	_, found := e.t.find(incs[1].ID())
	_, found0 := e.t.find(incs[0].ID())
	e.mu.RUnlock()
	if found || !found0 {
		t.Fatalf("find deleted=%v updated=%v", found, found0)
	}
}

func TestNotBuilt(t *testing.T) {
	e, err := New(newMemLog(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := e.Durations(ctx, Query{}, []Metric{Turnout}); app.ErrorCode(err) != app.EUNAVAILABLE {
		t.Fatalf("query before build: %v", err)
	}
	if err := e.Ready(ctx); !errors.Is(err, app.ErrBehind) {
		t.Fatalf("ready before build: %v", err)
	}
	if err := e.CatchUp(ctx, 1); !errors.Is(err, app.ErrBehind) {
		t.Fatalf("catch-up before build: %v", err)
	}
}

func TestInvalidQueries(t *testing.T) {
	e, _ := newEngine(t, Config{})
	ctx := context.Background()
	for _, q := range []Query{
		{GroupBy: []Dimension{ByUnit, ByUnit}},
		{GroupBy: []Dimension{Dimension(99)}},
		{Percentiles: []float64{101}},
		{Filter: Filter{From: time.Unix(10, 0), To: time.Unix(5, 0)}},
	} {
		if _, err := e.Durations(ctx, q, []Metric{Turnout}); !errors.Is(err, ErrInvalidQuery) {
			t.Errorf("%+v: %v", q, err)
		}
	}
	if _, err := e.NFPA1710(ctx, Query{}, Thresholds{Goal: 2}); !errors.Is(err, ErrInvalidQuery) {
		t.Errorf("goal 2: %v", err)
	}
}

// Unknown filter values match nothing; an empty table answers empty.
func TestEmpty(t *testing.T) {
	e, _ := newEngine(t, Config{}, corpus(50, 1)...)
	res, err := e.Durations(context.Background(), Query{Filter: Filter{UnitID: "NOPE"}}, []Metric{Turnout})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 0 {
		t.Fatalf("rows %+v", res.Rows)
	}
	e2, _ := newEngine(t, Config{})
	for _, dims := range [][]Dimension{nil, {ByHour}, {ByMonth, ByUnit}} {
		if _, err := e2.Utilization(context.Background(), Query{GroupBy: dims}); err != nil {
			t.Fatal(err)
		}
		if _, err := e2.Concurrency(context.Background(), Query{GroupBy: dims}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPercentile(t *testing.T) {
	// Values from numpy.percentile.
	x := []float64{15, 20, 35, 40, 50}
	for _, c := range []struct{ p, want float64 }{{0, 15}, {40, 29}, {50, 35}, {90, 46}, {100, 50}, {5, 16}} {
		if got := Percentile(x, c.p); !closeTo(got, c.want) {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if got := Percentile([]float64{1, 2, 3, 4}, 90); !closeTo(got, 3.7) {
		t.Errorf("p90 of 1..4 = %v", got)
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Error("empty not NaN")
	}
	// The counting and sorting paths agree with numpy on random data,
	// including spans that force each path.
	r := rand.New(rand.NewPCG(7, 8))
	ps := []float64{0, 1, 33.3, 50, 90, 90.01, 99.9, 100}
	sm := summarizer{ps: ps}
	for i := 0; i < 300; i++ {
		n := 1 + r.IntN(500)
		span := []int{3, 100, 1 << 22}[i%3]
		vals := make([]int32, n)
		fl := make([]float64, n)
		for k := range vals {
			vals[k] = int32(r.IntN(span) - span/3)
			fl[k] = float64(vals[k])
		}
		var s Stat
		sm.summarize(vals, &s)
		for k, p := range ps {
			if w := numpyPercentile(fl, p); !closeTo(s.Percentiles[k], w) {
				t.Fatalf("n=%d span=%d p%v = %v, want %v", n, span, p, s.Percentiles[k], w)
			}
		}
	}
}

// The id index finds every live incident and nothing else through many
// insertions, replacements and deletions (backward-shift deletion, growth,
// wrap-around of probe runs).
func TestIDIndex(t *testing.T) {
	tb := newTable(maphash.MakeSeed())
	r := rand.New(rand.NewPCG(9, 10))
	live := map[app.IncidentID]bool{}
	ids := make([]app.IncidentID, 5000)
	for i := range ids {
		ids[i] = app.IncidentID{Department: fmt.Sprint("D", i%3), Number: fmt.Sprint("N", i)}
	}
	for step := 0; step < 40000; step++ {
		id := ids[r.IntN(len(ids))]
		if r.IntN(3) == 0 {
			if got := tb.remove(id); got != live[id] {
				t.Fatalf("step %d: remove(%v) = %v, live %v", step, id, got, live[id])
			}
			delete(live, id)
		} else {
			tb.put(&IncidentMetrics{ID: id, FirstArriving: -1, FirstEngine: -1}, time.UTC)
			live[id] = true
		}
		if step%5000 == 0 || step == 39999 {
			for _, id := range ids {
				row, ok := tb.find(id)
				if ok != live[id] || (ok && !tb.matches(row, id)) {
					t.Fatalf("step %d: find(%v) = %d, %v; live %v", step, id, row, ok, live[id])
				}
			}
			if tb.nSlot != len(live) {
				t.Fatalf("%d slots used, %d live", tb.nSlot, len(live))
			}
		}
	}
	if inc, _ := tb.live(); inc != len(live) {
		t.Fatalf("%d live rows, want %d", inc, len(live))
	}
}
