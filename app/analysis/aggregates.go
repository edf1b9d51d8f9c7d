package analysis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"time"
)

// series is one column of values a collection gathers per group.
type series struct {
	metric Metric
	class  uint8 // classAny, classEMS or classFire
}

const (
	classAny uint8 = iota
	classEMS
	classFire
)

func (s series) classOK(ems bool) bool {
	return s.class == classAny || (s.class == classEMS) == ems
}

// cell is the values of one series in one group.
type cell struct {
	vals []int32
	n    int64
	excl Excluded
}

// add puts v into the cell, or counts it as excluded for reason r.
func (cl *cell) add(v int32, r Reason, include, keep bool) {
	if r == OK || (include && r != Missing) {
		cl.n++
		if keep {
			cl.vals = append(cl.vals, v)
		}
		return
	}
	cl.excl[r]++
}

// collection is the result of collect: cells[group*len(series)+s].
type collection struct {
	g     *grouper
	ss    []series
	cells []cell
}

func (c *collection) cell(gi, s int) *cell {
	need := (gi + 1) * len(c.ss)
	for len(c.cells) < need {
		c.cells = append(c.cells, cell{})
	}
	return &c.cells[gi*len(c.ss)+s]
}

// collect gathers the values of each series per group. Unit metrics are
// taken from every unit row that passes the filters (shift: the unit's);
// incident metrics from every incident that passes them, attributed to
// its first-arriving unit (the first-arriving engine for
// first_engine_travel) for the unit filters and dimensions. keep=false
// only counts.
func (t *table) collect(ctx context.Context, q *Query, ss []series, keep bool) (*collection, error) {
	f := t.resolve(q.Filter)
	g, err := t.grouper(q.GroupBy)
	if err != nil {
		return nil, err
	}
	var unitS, incS []int
	for i, s := range ss {
		if s.metric.IsUnit() {
			unitS = append(unitS, i)
		} else {
			incS = append(incS, i)
		}
	}
	include := q.IncludeFlagged
	ns := len(ss)
	parts := make([]*collection, t.workers())
	err = t.parallel(len(parts), func(w, lo, hi int) error {
		g := g.clone()
		c := &collection{g: g, ss: ss}
		parts[w] = c
		return t.scanRows(ctx, &f, lo, hi, func(b *incBlock, j, _, start int) {
			ems := b.bits[j]&bitEMS != 0
			if len(incS) > 0 && f.incShiftOK(b, j) {
				base := g.incKey(b, j, true)
				for _, si := range incS {
					s := ss[si]
					if !s.classOK(ems) {
						continue
					}
					idx := b.firstArr[j]
					if s.metric == FirstEngineTravel {
						idx = b.firstEng[j]
					}
					ub, uj, ok := t.attributed(start, idx)
					k := base
					if ok {
						p := ub.prof[uj]
						if f.unitSet && !f.unitOK(p, false) {
							continue
						}
						k |= g.profUnitKey[p]
					} else if f.unitSet {
						continue
					}
					m := int(s.metric) - numUnitMetrics
					var v int32
					switch {
					case m < storedIncidentMetrics:
						v = b.dur[m][j]
					case ok: // first_engine_travel: the engine's travel
						v = ub.dur[Travel][uj]
					}
					c.cell(g.group(k), si).add(v, Reason(b.flags[j]>>(3*m)&7), include, keep)
				}
			}
			if len(unitS) == 0 {
				return
			}
			base := g.incKey(b, j, false)
			for u := start; u < start+int(b.nUnits[j]); u++ {
				ub, uj := t.unitAt(u)
				p := ub.prof[uj]
				if !f.unitOK(p, true) {
					continue
				}
				gi := g.group(g.unitKey(base, p))
				if (gi+1)*ns > len(c.cells) {
					c.cell(gi, 0)
				}
				cells := c.cells[gi*ns : gi*ns+ns]
				fl := ub.flags[uj]
				for _, si := range unitS {
					s := ss[si]
					if !s.classOK(ems) {
						continue
					}
					m := int(s.metric)
					cells[si].add(ub.dur[m][uj], Reason(fl>>(3*m)&7), include, keep)
				}
			}
		})
	})
	if err != nil {
		return nil, err
	}
	// Merge the workers' groups, in worker (that is, row) order.
	c := &collection{g: g, ss: ss}
	for _, part := range parts {
		for lg, k := range part.g.keys {
			gi := g.group(k)
			for si := range ss {
				src, dst := part.cell(lg, si), c.cell(gi, si)
				if dst.vals == nil {
					dst.vals = src.vals
				} else {
					dst.vals = append(dst.vals, src.vals...)
				}
				dst.n += src.n
				dst.excl.add(&src.excl)
			}
		}
	}
	return c, nil
}

// workers returns how many goroutines a scan of the table uses: one per
// CPU for large tables, each taking at least t.rowsPerWorker rows.
func (t *table) workers() int {
	if t.forceWorkers > 0 {
		return t.forceWorkers
	}
	return max(1, min(runtime.GOMAXPROCS(0), t.nInc/t.rowsPerWorker, 16))
}

// parallel splits the incident rows into n contiguous ranges and runs fn
// on each in its own goroutine (w is the range's index), returning the
// first error.
func (t *table) parallel(n int, fn func(w, lo, hi int) error) error {
	if n <= 1 {
		return fn(0, 0, t.nInc)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	per := (t.nInc + n - 1) / n
	for w := range n {
		lo, hi := min(w*per, t.nInc), min((w+1)*per, t.nInc)
		wg.Go(func() { errs[w] = fn(w, lo, hi) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// DurationRow is the distribution of one metric in one group.
type DurationRow struct {
	// Group holds the group's values, aligned with the result's GroupBy.
	Group  []string
	Metric Metric
	Stat
}

// DurationsResult is the distribution of metrics per group.
type DurationsResult struct {
	GroupBy     []Dimension
	Metrics     []Metric
	Percentiles []float64
	// IncludeFlagged says whether flagged values were included.
	IncludeFlagged bool
	Rows           []DurationRow
	// Excluded totals the values left out, per metric (aligned with
	// Metrics).
	Excluded []Excluded
}

// Durations returns count, mean, min, max and percentiles of each metric
// per group. Percentiles are exact (see Percentile).
func (e *Engine) Durations(ctx context.Context, q Query, metrics []Metric) (*DurationsResult, error) {
	ps, err := prepare(&q)
	if err != nil {
		return nil, err
	}
	if len(metrics) == 0 {
		return nil, fmt.Errorf("%w: no metrics", ErrInvalidQuery)
	}
	ss := make([]series, len(metrics))
	for i, m := range metrics {
		if !m.valid() {
			return nil, fmt.Errorf("%w: unknown metric %d", ErrInvalidQuery, m)
		}
		ss[i] = series{metric: m}
	}
	res := &DurationsResult{GroupBy: q.GroupBy, Metrics: metrics, Percentiles: ps, IncludeFlagged: q.IncludeFlagged, Excluded: make([]Excluded, len(metrics))}
	var c *collection
	var order []int
	var labels [][]string
	err = e.view(func(t *table) error {
		var err error
		if c, err = t.collect(ctx, &q, ss, true); err != nil {
			return err
		}
		order, labels = c.g.order()
		return nil
	})
	if err != nil {
		return nil, err
	}
	sm := summarizer{ps: ps}
	for _, gi := range order {
		for si := range ss {
			cl := c.cell(gi, si)
			row := DurationRow{Group: labels[gi], Metric: ss[si].metric}
			sm.summarize(cl.vals, &row.Stat)
			row.Excluded = cl.excl
			res.Excluded[si].add(&cl.excl)
			res.Rows = append(res.Rows, row)
		}
	}
	return res, nil
}

// prepare checks q and returns the percentiles to report.
func prepare(q *Query) ([]float64, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	return percentiles(q.Percentiles)
}

// QualityRow counts one metric's values in one group by flag.
type QualityRow struct {
	Group  []string
	Metric Metric
	// Values is how many values there are (flagged ones included).
	Values int64
	// OK is how many are not flagged.
	OK int64
	// Flagged counts the flagged ones by their (first) reason.
	Flagged Excluded
}

// QualityResult is the data-quality report per group and metric.
type QualityResult struct {
	GroupBy []Dimension
	Metrics []Metric
	Rows    []QualityRow
}

// Quality counts each metric's values per group by data-quality flag.
func (e *Engine) Quality(ctx context.Context, q Query, metrics []Metric) (*QualityResult, error) {
	q.IncludeFlagged = false
	if _, err := prepare(&q); err != nil {
		return nil, err
	}
	ss := make([]series, len(metrics))
	for i, m := range metrics {
		if !m.valid() {
			return nil, fmt.Errorf("%w: unknown metric %d", ErrInvalidQuery, m)
		}
		ss[i] = series{metric: m}
	}
	res := &QualityResult{GroupBy: q.GroupBy, Metrics: metrics}
	err := e.view(func(t *table) error {
		c, err := t.collect(ctx, &q, ss, false)
		if err != nil {
			return err
		}
		order, labels := c.g.order()
		for _, gi := range order {
			for si := range ss {
				cl := c.cell(gi, si)
				res.Rows = append(res.Rows, QualityRow{Group: labels[gi], Metric: ss[si].metric, Values: cl.n + cl.excl.Total(), OK: cl.n, Flagged: cl.excl})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Measure is one NFPA 1710 compliance measure.
type Measure string

// NFPA 1710 measures.
const (
	// MeasureTurnoutEMS is the turnout of each unit response to an EMS
	// incident.
	MeasureTurnoutEMS Measure = "turnout_ems"
	// MeasureTurnoutFire is the turnout of each unit response to a fire
	// or other incident.
	MeasureTurnoutFire Measure = "turnout_fire"
	// MeasureFirstEngineTravel is the travel of each incident's
	// first-arriving engine.
	MeasureFirstEngineTravel Measure = "first_engine_travel"
	// MeasureAlarmProcessing is each incident's alarm processing.
	MeasureAlarmProcessing Measure = "alarm_processing"
)

// ComplianceRow is one measure in one group.
type ComplianceRow struct {
	Group   []string
	Measure Measure
	Metric  Metric
	// Threshold is the limit in seconds; a value ≤ Threshold complies.
	Threshold int64
	Compliant int64
	// Share is Compliant / Count (NaN when Count is 0).
	Share float64
	// MeetsGoal is whether Share reaches the goal.
	MeetsGoal bool
	Stat
}

// ComplianceResult is NFPA 1710 compliance per group.
type ComplianceResult struct {
	GroupBy        []Dimension
	Percentiles    []float64
	Thresholds     Thresholds
	IncludeFlagged bool
	Rows           []ComplianceRow
}

// NFPA1710 returns, per group, the share of turnouts (EMS and fire/other
// separately), first-arriving engine travels and alarm processing times
// within their thresholds. th overrides the configured thresholds where
// its fields are not zero.
func (e *Engine) NFPA1710(ctx context.Context, q Query, th Thresholds) (*ComplianceResult, error) {
	ps, err := prepare(&q)
	if err != nil {
		return nil, err
	}
	th = th.withDefaults(e.cfg.NFPA)
	if err := th.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidQuery, err)
	}
	measures := []struct {
		m   Measure
		s   series
		thr int64
	}{
		{MeasureTurnoutEMS, series{Turnout, classEMS}, th.TurnoutEMS},
		{MeasureTurnoutFire, series{Turnout, classFire}, th.TurnoutFire},
		{MeasureFirstEngineTravel, series{FirstEngineTravel, classAny}, th.FirstEngineTravel},
		{MeasureAlarmProcessing, series{AlarmProcessing, classAny}, th.AlarmProcessing},
	}
	ss := make([]series, len(measures))
	for i, m := range measures {
		ss[i] = m.s
	}
	res := &ComplianceResult{GroupBy: q.GroupBy, Percentiles: ps, Thresholds: th, IncludeFlagged: q.IncludeFlagged}
	var c *collection
	var order []int
	var labels [][]string
	err = e.view(func(t *table) error {
		var err error
		if c, err = t.collect(ctx, &q, ss, true); err != nil {
			return err
		}
		order, labels = c.g.order()
		return nil
	})
	if err != nil {
		return nil, err
	}
	sm := summarizer{ps: ps}
	for _, gi := range order {
		for si, m := range measures {
			cl := c.cell(gi, si)
			row := ComplianceRow{Group: labels[gi], Measure: m.m, Metric: m.s.metric, Threshold: m.thr}
			for _, v := range cl.vals {
				if int64(v) <= m.thr {
					row.Compliant++
				}
			}
			sm.summarize(cl.vals, &row.Stat)
			row.Excluded = cl.excl
			row.Share = math.NaN()
			if row.Count > 0 {
				row.Share = float64(row.Compliant) / float64(row.Count)
				row.MeetsGoal = row.Share >= th.Goal
			}
			res.Rows = append(res.Rows, row)
		}
	}
	return res, nil
}

// CountRow is the workload of one group.
type CountRow struct {
	Group []string
	// Incidents is how many distinct incidents fall in the group (with a
	// unit dimension: incidents a unit of the group responded to).
	Incidents int64
	// UnitResponses is how many unit responses fall in the group.
	UnitResponses int64
	// Share is Incidents over all matching incidents.
	Share float64
}

// CountsResult is the workload per group.
type CountsResult struct {
	GroupBy []Dimension
	// Incidents and UnitResponses are the totals over every group
	// (each incident counted once).
	Incidents, UnitResponses int64
	Rows                     []CountRow
}

// Counts returns incidents and unit responses per group. Incidents match
// the unit and station filters when any of their units does.
func (e *Engine) Counts(ctx context.Context, q Query) (*CountsResult, error) {
	if _, err := prepare(&q); err != nil {
		return nil, err
	}
	res := &CountsResult{GroupBy: q.GroupBy}
	err := e.view(func(t *table) error {
		f := t.resolve(q.Filter)
		g, err := t.grouper(q.GroupBy)
		if err != nil {
			return err
		}
		var inc, units []int64
		var last []int
		grow := func(gi int) {
			for len(inc) <= gi {
				inc, units, last = append(inc, 0), append(units, 0), append(last, -1)
			}
		}
		err = t.scan(ctx, &f, func(b *incBlock, j, row, start int) {
			n := int(b.nUnits[j])
			if g.hasUnit {
				counted := false
				base := g.incKey(b, j, false)
				for u := start; u < start+n; u++ {
					ub, uj := t.unitAt(u)
					p := ub.prof[uj]
					if !f.unitOK(p, true) {
						continue
					}
					gi := g.group(g.unitKey(base, p))
					grow(gi)
					units[gi]++
					res.UnitResponses++
					if last[gi] != row {
						last[gi] = row
						inc[gi]++
					}
					if !counted {
						counted = true
						res.Incidents++
					}
				}
				return
			}
			if !f.incShiftOK(b, j) {
				return
			}
			var nu int64
			for u := start; u < start+n; u++ {
				ub, uj := t.unitAt(u)
				if f.unitOK(ub.prof[uj], false) {
					nu++
				}
			}
			if f.unitSet && nu == 0 {
				return
			}
			gi := g.group(g.incKey(b, j, true))
			grow(gi)
			inc[gi]++
			units[gi] += nu
			res.Incidents++
			res.UnitResponses += nu
		})
		if err != nil {
			return err
		}
		order, labels := g.order()
		for _, gi := range order {
			row := CountRow{Group: labels[gi], Incidents: inc[gi], UnitResponses: units[gi], Share: math.NaN()}
			if res.Incidents > 0 {
				row.Share = float64(inc[gi]) / float64(res.Incidents)
			}
			res.Rows = append(res.Rows, row)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// HeatmapResult counts incidents (or unit responses) by local weekday
// and hour of event_opened.
type HeatmapResult struct {
	// UnitResponses says whether the cells count unit responses (else
	// incidents).
	UnitResponses bool
	// Cells[d][h] is the count on weekday d (0 = Monday … 6 = Sunday) at
	// local hour h.
	Cells [7][24]int64
	Total int64
}

// Heatmap returns the hour-of-day × weekday matrix.
func (e *Engine) Heatmap(ctx context.Context, f Filter, unitResponses bool) (*HeatmapResult, error) {
	q := Query{Filter: f}
	if _, err := prepare(&q); err != nil {
		return nil, err
	}
	res := &HeatmapResult{UnitResponses: unitResponses}
	err := e.view(func(t *table) error {
		rf := t.resolve(f)
		return t.scan(ctx, &rf, func(b *incBlock, j, _, start int) {
			d := (int(b.weekday[j]) + 6) % 7
			h := b.hour[j]
			n := int(b.nUnits[j])
			if unitResponses {
				for u := start; u < start+n; u++ {
					ub, uj := t.unitAt(u)
					if rf.unitOK(ub.prof[uj], true) {
						res.Cells[d][h]++
						res.Total++
					}
				}
				return
			}
			if rf.incShiftOK(b, j) && t.anyUnit(&rf, start, n) {
				res.Cells[d][h]++
				res.Total++
			}
		})
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// UtilizationRow is the unit-hour utilization of one group.
type UtilizationRow struct {
	Group []string
	// Units is how many distinct units responded in the group.
	Units int64
	// UnitResponses is how many responses fall in the group.
	UnitResponses int64
	// CommittedSeconds sums the commitment of those responses (excluded
	// values left out).
	CommittedSeconds int64
	// PeriodSeconds is the length of the period; grouped by hour,
	// weekday or month, the part of the period in that bucket.
	PeriodSeconds int64
	// Utilization is CommittedSeconds / (Units × PeriodSeconds) (NaN
	// when that is 0).
	Utilization float64
	// Excluded counts commitments left out, by reason.
	Excluded Excluded
}

// UtilizationResult is unit-hour utilization per group.
type UtilizationResult struct {
	GroupBy        []Dimension
	From, To       time.Time
	IncludeFlagged bool
	Rows           []UtilizationRow
}

// Utilization returns committed unit-seconds over the seconds in the
// period, per group. The period is [q.From, q.To); when either is zero,
// the first or last event_opened of the matching incidents. Commitments
// count whole in the bucket of their incident's event_opened.
func (e *Engine) Utilization(ctx context.Context, q Query) (*UtilizationResult, error) {
	if _, err := prepare(&q); err != nil {
		return nil, err
	}
	res := &UtilizationResult{GroupBy: q.GroupBy, IncludeFlagged: q.IncludeFlagged}
	timeDims := slices.ContainsFunc(q.GroupBy, Dimension.isTime)
	err := e.view(func(t *table) error {
		f := t.resolve(q.Filter)
		g, err := t.grouper(q.GroupBy)
		if err != nil {
			return err
		}
		type acc struct {
			units, responses, committed int64
			excl                        Excluded
		}
		var accs []acc
		var seen [][]uint64
		words := (len(t.unitIDs.names) + 63) / 64
		first, last := int64(math.MaxInt64), int64(math.MinInt64)
		zone := -1
		manyZones := false
		err = t.scan(ctx, &f, func(b *incBlock, j, _, start int) {
			matched := false
			base := g.incKey(b, j, false)
			for u := start; u < start+int(b.nUnits[j]); u++ {
				ub, uj := t.unitAt(u)
				p := ub.prof[uj]
				if !f.unitOK(p, true) {
					continue
				}
				matched = true
				gi := g.group(g.unitKey(base, p))
				for len(accs) <= gi {
					accs = append(accs, acc{})
				}
				a := &accs[gi]
				a.responses++
				// Distinct units per group: a bitset over unit ids.
				for len(seen) <= gi {
					seen = append(seen, make([]uint64, words))
				}
				unit := t.profiles[p].unit
				if w, bit := &seen[gi][unit/64], uint64(1)<<(unit%64); *w&bit == 0 {
					*w |= bit
					a.units++
				}
				r := Reason(ub.flags[uj] >> (3 * int(Commitment)) & 7)
				if r == OK || (q.IncludeFlagged && r != Missing) {
					a.committed += int64(ub.dur[Commitment][uj])
				} else {
					a.excl[r]++
				}
			}
			if matched {
				o := int64(b.opened[j])
				first, last = min(first, o), max(last, o)
				switch z := int(b.zone[j]); {
				case zone < 0:
					zone = z
				case zone != z:
					manyZones = true
				}
			}
		})
		if err != nil {
			return err
		}
		from, to := first, last
		if !q.From.IsZero() {
			from = q.From.Unix()
		}
		if !q.To.IsZero() {
			to = q.To.Unix()
		}
		if len(g.keys) == 0 {
			return nil
		}
		res.From, res.To = time.Unix(from, 0).UTC(), time.Unix(to, 0).UTC()
		var periods map[uint64]int64
		if timeDims {
			if manyZones {
				return fmt.Errorf("%w: the matching incidents are in several time zones; filter by department to group utilization by hour, weekday or month", ErrInvalidQuery)
			}
			loc := time.UTC
			if zone >= 0 && zone < len(t.locs) {
				loc = t.locs[zone]
			}
			periods, err = g.periodBuckets(ctx, from, to, loc)
			if err != nil {
				return err
			}
		}
		order, labels := g.order()
		for _, gi := range order {
			a := accs[gi]
			row := UtilizationRow{Group: labels[gi], Units: a.units, UnitResponses: a.responses, CommittedSeconds: a.committed,
				PeriodSeconds: max(to-from, 0), Excluded: a.excl, Utilization: math.NaN()}
			if timeDims {
				row.PeriodSeconds = periods[g.timeKey(g.keys[gi])]
			}
			if d := a.units * row.PeriodSeconds; d > 0 {
				row.Utilization = float64(a.committed) / float64(d)
			}
			res.Rows = append(res.Rows, row)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// timeKey keeps only the time dimensions of key k.
func (g *grouper) timeKey(k uint64) uint64 {
	var tk uint64
	for i, d := range g.dims {
		if d.isTime() {
			tk |= g.value(k, i) << g.shift[i]
		}
	}
	return tk
}

// periodBuckets splits [from, to) into local clock hours and sums the
// seconds per time key (hour, weekday, month as grouped).
func (g *grouper) periodBuckets(ctx context.Context, from, to int64, loc *time.Location) (map[uint64]int64, error) {
	out := map[uint64]int64{}
	months := g.cardinality(ByMonth)
	for i, t := 0, from; t < to; i++ {
		if i%100000 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("analysis query: %w", err)
			}
		}
		lt := time.Unix(t, 0).In(loc)
		next := min(t+int64(3600-lt.Minute()*60-lt.Second()), to)
		var tk uint64
		ok := true
		for i, d := range g.dims {
			var v uint64
			switch d {
			case ByHour:
				v = uint64(lt.Hour())
			case ByWeekday:
				v = uint64(lt.Weekday())
			case ByMonth:
				m := int64(0)
				if lt.Year() >= 1970 {
					m = int64(lt.Year()-1970)*12 + int64(lt.Month()) - 1
				}
				m -= int64(g.monthBase)
				if m < 0 || uint64(m) >= months {
					ok = false
				}
				v = uint64(m)
			default:
				continue
			}
			tk |= v << g.shift[i]
		}
		if ok {
			out[tk] += next - t
		}
		t = next
	}
	return out, nil
}

// ConcurrencyRow is the distribution of concurrent incidents in one
// group.
type ConcurrencyRow struct {
	Group []string
	// Stat is over the incidents of the group: for each, how many other
	// incidents of its department were open when it was opened.
	Stat
	// WithConcurrent is how many incidents arrived while at least one
	// other was open; Share is that over Count.
	WithConcurrent int64
	Share          float64
}

// ConcurrencyResult is the concurrency distribution per group.
type ConcurrencyResult struct {
	GroupBy     []Dimension
	Percentiles []float64
	Rows        []ConcurrencyRow
	// UnknownEnd counts matching incidents whose end is unknown (no
	// event_closed and no unit cleared or available time, or an end
	// before the start): they are never counted as open.
	UnknownEnd int64
}

// Concurrency returns, per group, how many other incidents of the same
// department were open (opened earlier, not yet closed) when each
// incident was opened. An incident is open from event_opened until
// event_closed, or without one, until its last unit cleared or became
// available. With a unit dimension, an incident counts in the group of
// every unit that responded to it.
func (e *Engine) Concurrency(ctx context.Context, q Query) (*ConcurrencyResult, error) {
	ps, err := prepare(&q)
	if err != nil {
		return nil, err
	}
	res := &ConcurrencyResult{GroupBy: q.GroupBy, Percentiles: ps}
	var vals [][]int32
	var order []int
	var labels [][]string
	err = e.view(func(t *table) error {
		conc := e.concurrency(t)
		f := t.resolve(q.Filter)
		g, err := t.grouper(q.GroupBy)
		if err != nil {
			return err
		}
		var last []int
		add := func(gi, row int) {
			for len(vals) <= gi {
				vals, last = append(vals, nil), append(last, -1)
			}
			if last[gi] != row {
				last[gi] = row
				vals[gi] = append(vals[gi], int32(conc[row]))
			}
		}
		err = t.scan(ctx, &f, func(b *incBlock, j, row, start int) {
			n := int(b.nUnits[j])
			if g.hasUnit {
				base := g.incKey(b, j, false)
				matched := false
				for u := start; u < start+n; u++ {
					ub, uj := t.unitAt(u)
					if p := ub.prof[uj]; f.unitOK(p, true) {
						matched = true
						add(g.group(g.unitKey(base, p)), row)
					}
				}
				if matched && b.end[j] < 0 {
					res.UnknownEnd++
				}
				return
			}
			if !f.incShiftOK(b, j) || !t.anyUnit(&f, start, n) {
				return
			}
			add(g.group(g.incKey(b, j, true)), row)
			if b.end[j] < 0 {
				res.UnknownEnd++
			}
		})
		if err != nil {
			return err
		}
		order, labels = g.order()
		return nil
	})
	if err != nil {
		return nil, err
	}
	sm := summarizer{ps: ps}
	for _, gi := range order {
		row := ConcurrencyRow{Group: labels[gi], Share: math.NaN()}
		for _, v := range vals[gi] {
			if v > 0 {
				row.WithConcurrent++
			}
		}
		sm.summarize(vals[gi], &row.Stat)
		if row.Count > 0 {
			row.Share = float64(row.WithConcurrent) / float64(row.Count)
		}
		res.Rows = append(res.Rows, row)
	}
	return res, nil
}
