package analysis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"time"
	"unsafe"
)

// Dimension is something aggregates can be grouped by.
type Dimension uint8

// Dimensions. Hour, weekday and month are of event_opened in the
// incident's own time zone (fire_department.timezone).
const (
	// ByDepartment groups by fire_department.fd_id.
	ByDepartment Dimension = iota + 1
	// ByUnit groups by apparatus.unit_id.
	ByUnit
	// ByUnitType groups by apparatus.unit_type.
	ByUnitType
	// ByStation groups by apparatus.station.
	ByStation
	// ByType groups by description.type.
	ByType
	// BySubtype groups by description.subtype.
	BySubtype
	// ByShift groups by shift (the unit's for unit metrics, else the
	// incident's).
	ByShift
	// ByHour groups by local hour of day, 00–23.
	ByHour
	// ByWeekday groups by local day of the week.
	ByWeekday
	// ByMonth groups by local calendar month, YYYY-MM.
	ByMonth
	numDimensions int = iota + 1
)

var dimensionNames = [numDimensions]string{"", "department", "unit", "unit_type", "station", "type", "subtype", "shift", "hour", "weekday", "month"}

// String returns the dimension's name as the API spells it.
func (d Dimension) String() string {
	if int(d) < numDimensions && d > 0 {
		return dimensionNames[d]
	}
	return "dimension(" + strconv.Itoa(int(d)) + ")"
}

// IsUnit reports whether the dimension is an attribute of a unit
// response (unit, unit_type, station).
func (d Dimension) IsUnit() bool { return d == ByUnit || d == ByUnitType || d == ByStation }

func (d Dimension) isTime() bool { return d == ByHour || d == ByWeekday || d == ByMonth }

// DimensionNames lists the names ParseDimension accepts.
func DimensionNames() []string { return slices.Clone(dimensionNames[1:]) }

// ParseDimension returns the dimension with the given name.
func ParseDimension(s string) (Dimension, error) {
	for i, n := range dimensionNames {
		if i > 0 && n == s {
			return Dimension(i), nil
		}
	}
	return 0, fmt.Errorf("unknown dimension %q", s)
}

// Filter selects incidents and unit responses. Empty fields match
// everything.
type Filter struct {
	// Departments, when not empty, is the set of fd_ids the caller may
	// see (an API key's scope); Department narrows further.
	Departments               []string
	Department, Type, Subtype string
	// UnitID, Station and Shift select unit responses by their unit,
	// station and shift. For a metric of the incident they select by the
	// unit the metric is attributed to; for workload counts, incidents
	// that any matching unit responded to.
	UnitID, Station, Shift string
	// From and To bound event_opened: From ≤ t < To. Zero: unbounded.
	From, To time.Time
}

// Query is a filter with a grouping.
type Query struct {
	Filter
	GroupBy []Dimension
	// IncludeFlagged puts flagged values (other than missing ones) into
	// the aggregates instead of excluding them.
	IncludeFlagged bool
	// Percentiles are extra percentiles (0–100) to report besides p50
	// and p90.
	Percentiles []float64
}

// ErrInvalidQuery is wrapped by the errors of queries that cannot be
// answered as asked.
var ErrInvalidQuery = errors.New("invalid query")

func (q *Query) check() error {
	seen := map[Dimension]bool{}
	for _, d := range q.GroupBy {
		if d == 0 || int(d) >= numDimensions {
			return fmt.Errorf("%w: unknown dimension %d", ErrInvalidQuery, d)
		}
		if seen[d] {
			return fmt.Errorf("%w: %s is grouped by twice", ErrInvalidQuery, d)
		}
		seen[d] = true
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return fmt.Errorf("%w: from must be before to", ErrInvalidQuery)
	}
	return nil
}

// percentiles returns 50 and 90 with the extra ones, sorted, without
// duplicates.
func percentiles(extra []float64) ([]float64, error) {
	out := []float64{50, 90}
	for _, p := range extra {
		if math.IsNaN(p) || p < 0 || p > 100 {
			return nil, fmt.Errorf("%w: percentile %v is not between 0 and 100", ErrInvalidQuery, p)
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// rfilter is a Filter resolved against the dictionaries.
type rfilter struct {
	from, to int64
	dept     int64 // -1: any
	// deptOK[dept] says whether a department is in the caller's scope;
	// nil: all are.
	deptOK  []bool
	shift   int64 // the incident's shift; -1: any
	none    bool  // a value is not in the data: nothing matches
	unitSet bool  // unit or station is set
	// kindOK[kind] says whether a (type, subtype) pair passes; nil: all.
	kindOK []bool
	// profOK[profile] says whether a unit response with that profile
	// passes the unit, station and shift filters; profOKNoShift ignores
	// shift. nil: all pass.
	profOK, profOKNoShift []bool
}

func (t *table) resolve(f Filter) rfilter {
	r := rfilter{from: math.MinInt64, to: math.MaxInt64, dept: -1, shift: -1}
	if !f.From.IsZero() {
		r.from = f.From.Unix()
		if f.From.Nanosecond() > 0 {
			r.from++ // opened times are whole seconds
		}
	}
	if !f.To.IsZero() {
		r.to = f.To.Unix()
		if f.To.Nanosecond() > 0 {
			r.to++
		}
	}
	look := func(d *dict, s string) int64 {
		if s == "" {
			return -1
		}
		id, ok := d.lookup(s)
		if !ok {
			r.none = true
			return -1
		}
		return int64(id)
	}
	r.dept = look(&t.depts, f.Department)
	if len(f.Departments) > 0 {
		r.deptOK = make([]bool, len(t.depts.names))
		found := false
		for _, d := range f.Departments {
			if id, ok := t.depts.lookup(d); ok && d != "" {
				r.deptOK[id], found = true, true
			}
		}
		r.none = r.none || !found
	}
	typ, sub := look(&t.types, f.Type), look(&t.subtypes, f.Subtype)
	unit, station := look(&t.unitIDs, f.UnitID), look(&t.stations, f.Station)
	if sh := look(&t.shifts, f.Shift); sh >= 0 {
		r.shift = int64(narrow16(uint32(sh)))
	}
	if typ >= 0 || sub >= 0 {
		r.kindOK = make([]bool, len(t.kinds))
		for i, k := range t.kinds {
			r.kindOK[i] = (typ < 0 || int64(k.typ) == typ) && (sub < 0 || int64(k.subtype) == sub)
		}
	}
	r.unitSet = unit >= 0 || station >= 0
	if r.unitSet || r.shift >= 0 {
		r.profOK = make([]bool, len(t.profiles))
		r.profOKNoShift = make([]bool, len(t.profiles))
		for i, p := range t.profiles {
			ok := (unit < 0 || int64(p.unit) == unit) && (station < 0 || int64(p.station) == station)
			r.profOKNoShift[i] = ok
			r.profOK[i] = ok && (r.shift < 0 || int64(p.shift) == r.shift)
		}
		if !r.unitSet {
			r.profOKNoShift = nil
		}
	}
	return r
}

// incOK reports whether incident row j of b passes the incident filters
// (not the unit ones, nor shift).
func (f *rfilter) incOK(b *incBlock, j int) bool {
	if b.bits[j]&bitAlive == 0 {
		return false
	}
	o := int64(b.opened[j])
	return o >= f.from && o < f.to &&
		(f.dept < 0 || int64(b.dept[j]) == f.dept) &&
		(f.deptOK == nil || f.deptOK[b.dept[j]]) &&
		(f.kindOK == nil || f.kindOK[b.kind[j]])
}

// unitOK reports whether a unit response with profile p passes the unit
// filters; shift applies too when withShift.
func (f *rfilter) unitOK(p uint32, withShift bool) bool {
	if withShift {
		return f.profOK == nil || f.profOK[p]
	}
	return f.profOKNoShift == nil || f.profOKNoShift[p]
}

func (f *rfilter) incShiftOK(b *incBlock, j int) bool {
	return f.shift < 0 || int64(b.shift[j]) == f.shift
}

// anyUnit reports whether any unit of an incident (unit rows start to
// start+n) passes the unit filters (shift excluded).
func (t *table) anyUnit(f *rfilter, start, n int) bool {
	if !f.unitSet {
		return true
	}
	for u := start; u < start+n; u++ {
		ub, uj := t.unitAt(u)
		if f.unitOK(ub.prof[uj], false) {
			return true
		}
	}
	return false
}

// attributed returns the unit row of the incident's unit with index idx
// (noUnit: none), the incident's units starting at unit row start.
func (t *table) attributed(start int, idx uint8) (*unitBlock, int, bool) {
	if idx == noUnit {
		return nil, 0, false
	}
	ub, uj := t.unitAt(start + int(idx))
	return ub, uj, true
}

// grouper maps rows to group indexes. A key packs each dimension's raw
// value (a dictionary id, an hour, ...) into its own bits.
type grouper struct {
	t         *table
	dims      []Dimension
	shift     []uint8
	hasUnit   bool
	monthBase uint16
	// Key parts precomputed per dictionary entry.
	kindKey      []uint64 // type and subtype parts, per kind
	profUnitKey  []uint64 // unit, unit type and station parts, per profile
	profShiftKey []uint64 // the shift part, per profile
	incDims      []int    // indexes of the dimensions read from the incident row
	shiftDim     int      // index of ByShift, -1 if absent
	dense        []int32  // key -> group, -1 none (small key spaces)
	sparse       map[uint64]int32
	keys         []uint64 // group -> key
}

func (t *table) grouper(dims []Dimension) (*grouper, error) {
	g := &grouper{t: t, dims: dims, shift: make([]uint8, len(dims)), monthBase: t.minMonth, shiftDim: -1}
	if t.minMonth > t.maxMonth {
		g.monthBase = 0
	}
	total := 0
	for i, d := range dims {
		g.shift[i] = uint8(total)
		total += bits.Len64(g.cardinality(d) - 1)
		g.hasUnit = g.hasUnit || d.IsUnit()
		switch d {
		case ByDepartment, ByHour, ByWeekday, ByMonth:
			g.incDims = append(g.incDims, i)
		case ByShift:
			g.shiftDim = i
		}
	}
	if total > 64 {
		return nil, fmt.Errorf("%w: too many group_by dimensions for the data", ErrInvalidQuery)
	}
	g.kindKey = make([]uint64, len(t.kinds))
	for k, kd := range t.kinds {
		for i, d := range dims {
			switch d {
			case ByType:
				g.kindKey[k] |= uint64(kd.typ) << g.shift[i]
			case BySubtype:
				g.kindKey[k] |= uint64(kd.subtype) << g.shift[i]
			}
		}
	}
	g.profUnitKey = make([]uint64, len(t.profiles))
	g.profShiftKey = make([]uint64, len(t.profiles))
	for p, pr := range t.profiles {
		for i, d := range dims {
			switch d {
			case ByUnit:
				g.profUnitKey[p] |= uint64(pr.unit) << g.shift[i]
			case ByStation:
				g.profUnitKey[p] |= uint64(pr.station) << g.shift[i]
			case ByUnitType:
				g.profUnitKey[p] |= uint64(pr.utype) << g.shift[i]
			case ByShift:
				g.profShiftKey[p] = uint64(pr.shift) << g.shift[i]
			}
		}
	}
	if total <= 16 {
		g.dense = make([]int32, 1<<total)
		for i := range g.dense {
			g.dense[i] = -1
		}
	} else {
		g.sparse = map[uint64]int32{}
	}
	return g, nil
}

func (g *grouper) cardinality(d Dimension) uint64 {
	t := g.t
	switch d {
	case ByDepartment:
		return uint64(len(t.depts.names))
	case ByUnit:
		return uint64(len(t.unitIDs.names))
	case ByUnitType:
		return uint64(min(len(t.utypes.names), overflow16+1))
	case ByStation:
		return uint64(len(t.stations.names))
	case ByType:
		return uint64(len(t.types.names))
	case BySubtype:
		return uint64(len(t.subtypes.names))
	case ByShift:
		return uint64(min(len(t.shifts.names), overflow16+1))
	case ByHour:
		return 24
	case ByWeekday:
		return 7
	case ByMonth:
		if t.minMonth > t.maxMonth {
			return 1
		}
		return uint64(t.maxMonth-t.minMonth) + 1
	}
	return 1
}

// incKey returns the key part of incident row j of b; the shift part is
// the incident's when withShift (else left for the unit's).
func (g *grouper) incKey(b *incBlock, j int, withShift bool) uint64 {
	k := g.kindKey[b.kind[j]]
	for _, i := range g.incDims {
		var v uint64
		switch g.dims[i] {
		case ByDepartment:
			v = uint64(b.dept[j])
		case ByHour:
			v = uint64(b.hour[j])
		case ByWeekday:
			v = uint64(b.weekday[j])
		case ByMonth:
			v = uint64(b.month[j] - g.monthBase)
		}
		k |= v << g.shift[i]
	}
	if withShift && g.shiftDim >= 0 {
		k |= uint64(b.shift[j]) << g.shift[g.shiftDim]
	}
	return k
}

// unitKey adds the unit-response part of profile p, its shift included,
// to an incident part made without the shift.
func (g *grouper) unitKey(inc uint64, p uint32) uint64 {
	return inc | g.profUnitKey[p] | g.profShiftKey[p]
}

// clone returns a grouper with the same key layout and no groups, for
// another goroutine.
func (g *grouper) clone() *grouper {
	c := *g
	c.keys = nil
	if g.dense != nil {
		c.dense = make([]int32, len(g.dense))
		for i := range c.dense {
			c.dense[i] = -1
		}
	} else {
		c.sparse = map[uint64]int32{}
	}
	return &c
}

// group returns the index of the group with key k, adding it if new.
func (g *grouper) group(k uint64) int {
	if g.dense != nil {
		if gi := g.dense[k]; gi >= 0 {
			return int(gi)
		}
		g.dense[k] = int32(len(g.keys))
	} else {
		if gi, ok := g.sparse[k]; ok {
			return int(gi)
		}
		g.sparse[k] = int32(len(g.keys))
	}
	g.keys = append(g.keys, k)
	return len(g.keys) - 1
}

// value returns dimension i's raw value in key k.
func (g *grouper) value(k uint64, i int) uint64 {
	next := 64
	if i+1 < len(g.dims) {
		next = int(g.shift[i+1])
	}
	width := next - int(g.shift[i])
	mask := uint64(math.MaxUint64)
	if width < 64 {
		mask = 1<<width - 1
	}
	return k >> g.shift[i] & mask
}

// label returns the text of dimension i in key k.
func (g *grouper) label(k uint64, i int) string {
	v := g.value(k, i)
	t := g.t
	switch g.dims[i] {
	case ByDepartment:
		return t.depts.name(uint32(v))
	case ByUnit:
		return t.unitIDs.name(uint32(v))
	case ByUnitType:
		return t.utypes.name(uint32(v))
	case ByStation:
		return t.stations.name(uint32(v))
	case ByType:
		return t.types.name(uint32(v))
	case BySubtype:
		return t.subtypes.name(uint32(v))
	case ByShift:
		return t.shifts.name(uint32(v))
	case ByHour:
		return fmt.Sprintf("%02d", v)
	case ByWeekday:
		return time.Weekday(v).String()
	case ByMonth:
		return monthLabel(uint16(v) + g.monthBase)
	}
	return ""
}

func monthLabel(m uint16) string {
	return fmt.Sprintf("%04d-%02d", 1970+int(m)/12, int(m)%12+1)
}

// order returns the group indexes sorted by their keys: text dimensions
// alphabetically, hours and months in time order, weekdays Monday first.
func (g *grouper) order() (idx []int, labels [][]string) {
	idx = make([]int, len(g.keys))
	labels = make([][]string, len(g.keys))
	for gi, k := range g.keys {
		idx[gi] = gi
		labels[gi] = make([]string, len(g.dims))
		for i := range g.dims {
			labels[gi][i] = g.label(k, i)
		}
	}
	slices.SortFunc(idx, func(a, b int) int {
		for i, d := range g.dims {
			va, vb := g.value(g.keys[a], i), g.value(g.keys[b], i)
			var c int
			switch {
			case d == ByWeekday:
				c = cmp.Compare((va+6)%7, (vb+6)%7)
			case d.isTime():
				c = cmp.Compare(va, vb)
			default:
				c = cmp.Compare(labels[a][i], labels[b][i])
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	return idx, labels
}

// scan calls fn for each incident row that passes the incident filters,
// with the row's first unit row, checking ctx between blocks.
func (t *table) scan(ctx context.Context, f *rfilter, fn func(b *incBlock, j, row, start int)) error {
	return t.scanRows(ctx, f, 0, t.nInc, fn)
}

// scanRows is scan over incident rows [lo, hi).
func (t *table) scanRows(ctx context.Context, f *rfilter, lo, hi int, fn func(b *incBlock, j, row, start int)) error {
	if f.none || lo >= hi {
		return nil
	}
	for bi := lo >> blockBits; bi<<blockBits < hi; bi++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("analysis query: %w", err)
		}
		b := t.inc[bi]
		if int64(b.maxOpened) < f.from || int64(b.minOpened) >= f.to {
			continue // no row of the block is in the time range
		}
		j0, j1 := max(lo-bi<<blockBits, 0), min(hi-bi<<blockBits, blockSize)
		start := int(b.unitBase)
		for j := 0; j < j0; j++ {
			start += int(b.nUnits[j])
		}
		for j := j0; j < j1; j++ {
			if f.incOK(b, j) {
				fn(b, j, bi<<blockBits|j, start)
			}
			start += int(b.nUnits[j])
		}
	}
	return nil
}

// bytes estimates the memory of the tables.
func (t *table) bytes() int64 {
	n := int64(len(t.inc))*int64(unsafe.Sizeof(incBlock{})) + int64(len(t.units))*int64(unsafe.Sizeof(unitBlock{}))
	n += int64(len(t.profiles))*(int64(unsafe.Sizeof(profile{}))*2+8) + int64(len(t.kinds))*(int64(unsafe.Sizeof(kind{}))*2+8)
	n += int64(cap(t.arena))
	n += int64(len(t.slots)) * 4
	// Map entries: key and value plus a control byte, at 7/8 load.
	n += int64(len(t.profileIDs))*(16+4+1)*8/7 + int64(len(t.kindIDs))*(8+4+1)*8/7
	for _, d := range []*dict{&t.depts, &t.types, &t.subtypes, &t.shifts, &t.unitIDs, &t.stations, &t.utypes, &t.zones} {
		for _, s := range d.names {
			n += int64(len(s))*2 + 16 + 4 + 16
		}
	}
	return n
}
