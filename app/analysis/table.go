package analysis

import (
	"hash/maphash"
	"math"
	"time"

	"cadbox/app"
)

// The tables are struct-of-arrays cut into fixed blocks: each column of a
// block is a contiguous array, rows are appended, and growing allocates one
// block rather than copying whole columns (so the slack is at most one
// block per table). An incident's unit responses are contiguous rows of
// the unit table, so scans walk incidents and, for each, its unit rows.
//
// Strings are dictionary-encoded; times are Unix seconds in uint32;
// durations are int32 seconds with a 3-bit flag reason per metric.
const (
	blockBits = 12
	blockSize = 1 << blockBits
	blockMask = blockSize - 1
)

// Incident row bits.
const (
	bitAlive = 1 << iota
	bitEMS
)

// noUnit marks "no such unit" in firstArr / firstEng.
const noUnit = 0xFF

// overflow16 is the id a uint16 dictionary column stores once its
// dictionary has more than 65534 values.
const overflow16 = 0xFFFF

// storedIncidentMetrics is how many incident durations have a column:
// first_engine_travel (the last metric) is the travel of the unit it is
// attributed to, read from the unit table; only its flag is stored.
const storedIncidentMetrics = numIncidentMetrics - 1

type incBlock struct {
	// unitBase is the unit row of the block's first incident; an
	// incident's unit rows follow those of the row before it.
	unitBase uint32
	// minOpened and maxOpened bound the block's opened times, so a scan
	// with a time range skips blocks outside it.
	minOpened, maxOpened uint32
	opened               [blockSize]uint32 // event_opened, Unix seconds
	end                  [blockSize]int32  // seconds from opened until no longer open; -1 unknown
	numOff               [blockSize]uint32 // incident number in the arena
	dept                 [blockSize]uint32
	kind                 [blockSize]uint32 // (type, subtype) pair
	flags                [blockSize]uint32 // 3 bits per incident metric
	shift                [blockSize]uint16
	zone                 [blockSize]uint16
	numLen               [blockSize]uint16
	month                [blockSize]uint16 // local calendar month, months since 1970-01
	nUnits               [blockSize]uint16
	hour                 [blockSize]uint8 // local
	weekday              [blockSize]uint8 // local, Sunday = 0
	bits                 [blockSize]uint8
	firstArr             [blockSize]uint8 // index among the incident's units, noUnit if none
	firstEng             [blockSize]uint8
	dur                  [storedIncidentMetrics][blockSize]int32
}

type unitBlock struct {
	prof  [blockSize]uint32 // (unit, station, unit type, shift) profile
	flags [blockSize]uint16 // 3 bits per unit metric
	dur   [numUnitMetrics][blockSize]int32
}

// widen extends the block's opened bounds to row j.
func (b *incBlock) widen(j int) {
	if j == 0 || b.opened[j] < b.minOpened {
		b.minOpened = b.opened[j]
	}
	if j == 0 || b.opened[j] > b.maxOpened {
		b.maxOpened = b.opened[j]
	}
}

// profile is the combination of a unit response's attributes; there are
// few per unit, so one id stands for four strings.
type profile struct {
	unit, station uint32
	utype, shift  uint16
}

// kind is an incident's (type, subtype) pair.
type kind struct{ typ, subtype uint32 }

// dict maps strings to small ids; id 0 is the empty string (absent).
type dict struct {
	ids   map[string]uint32
	names []string
}

func newDict() dict { return dict{ids: map[string]uint32{"": 0}, names: []string{""}} }

func (d *dict) id(s string) uint32 {
	if id, ok := d.ids[s]; ok {
		return id
	}
	id := uint32(len(d.names))
	d.ids[s] = id
	d.names = append(d.names, s)
	return id
}

func (d *dict) lookup(s string) (uint32, bool) {
	id, ok := d.ids[s]
	return id, ok
}

func (d *dict) name(id uint32) string {
	if int(id) < len(d.names) {
		return d.names[id]
	}
	return "(other)"
}

func narrow16(id uint32) uint16 {
	if id >= overflow16 {
		return overflow16
	}
	return uint16(id)
}

// table holds the analysis columns of every incident.
type table struct {
	inc      []*incBlock
	nInc     int
	units    []*unitBlock
	nUnit    int
	deadInc  int
	deadUnit int
	arena    []byte // incident numbers, back to back

	seed maphash.Seed
	// slots is the id index: an open-addressing hash table (linear
	// probing) of live incident rows + 1, 0 meaning empty, at most 3/4
	// full. Entries are checked against the stored ids, so hash
	// collisions cost a probe, never a wrong answer.
	slots []uint32
	nSlot int // used slots

	depts, types, subtypes, shifts, unitIDs, stations, utypes, zones dict
	locs                                                             []*time.Location // by zone id
	profiles                                                         []profile
	profileIDs                                                       map[profile]uint32
	kinds                                                            []kind
	kindIDs                                                          map[kind]uint32

	minMonth, maxMonth uint16
	// gen changes with every write (cache key).
	gen uint64
	// compactMin is how many dead rows there must be before compaction
	// is considered.
	compactMin int
	// rowsPerWorker is the fewest incident rows worth a goroutine of a
	// scan; forceWorkers, when set, overrides the number (tests).
	rowsPerWorker, forceWorkers int
}

func newTable(seed maphash.Seed) *table {
	return &table{
		seed: seed, slots: make([]uint32, 1024),
		depts: newDict(), types: newDict(), subtypes: newDict(), shifts: newDict(),
		unitIDs: newDict(), stations: newDict(), utypes: newDict(), zones: newDict(),
		locs: []*time.Location{time.UTC}, minMonth: math.MaxUint16, compactMin: 1 << 14, rowsPerWorker: 1 << 16,
		profileIDs: map[profile]uint32{}, kindIDs: map[kind]uint32{},
	}
}

func (t *table) profileID(p profile) uint32 {
	if id, ok := t.profileIDs[p]; ok {
		return id
	}
	id := uint32(len(t.profiles))
	t.profileIDs[p] = id
	t.profiles = append(t.profiles, p)
	return id
}

func (t *table) kindID(k kind) uint32 {
	if id, ok := t.kindIDs[k]; ok {
		return id
	}
	id := uint32(len(t.kinds))
	t.kindIDs[k] = id
	t.kinds = append(t.kinds, k)
	return id
}

func (t *table) hash(department, number string) uint64 {
	var h maphash.Hash
	h.SetSeed(t.seed)
	h.WriteString(department)
	h.WriteByte(0)
	h.WriteString(number)
	return h.Sum64()
}

// rowHash returns the hash of incident row r's id.
func (t *table) rowHash(r uint32) uint64 {
	b, j := t.incAt(int(r))
	off := b.numOff[j]
	var h maphash.Hash
	h.SetSeed(t.seed)
	h.WriteString(t.depts.name(b.dept[j]))
	h.WriteByte(0)
	h.Write(t.arena[off : off+uint32(b.numLen[j])])
	return h.Sum64()
}

func (t *table) incAt(row int) (*incBlock, int) { return t.inc[row>>blockBits], row & blockMask }

func (t *table) unitAt(row int) (*unitBlock, int) { return t.units[row>>blockBits], row & blockMask }

// matches reports whether incident row r has the given id.
func (t *table) matches(r uint32, id app.IncidentID) bool {
	b, j := t.incAt(int(r))
	if t.depts.name(b.dept[j]) != id.Department {
		return false
	}
	off := b.numOff[j]
	return string(t.arena[off:off+uint32(b.numLen[j])]) == id.Number
}

// slotOf returns the index slot holding id, or the empty slot where it
// would go.
func (t *table) slotOf(id app.IncidentID) (int, bool) {
	mask := len(t.slots) - 1
	for i := int(t.hash(id.Department, id.Number)) & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return i, false
		}
		if t.matches(s-1, id) {
			return i, true
		}
	}
}

// find returns the row of a live incident.
func (t *table) find(id app.IncidentID) (uint32, bool) {
	i, ok := t.slotOf(id)
	if !ok {
		return 0, false
	}
	return t.slots[i] - 1, true
}

// index adds a live incident row to the id index (the id is not in it).
func (t *table) index(id app.IncidentID, row uint32) {
	if (t.nSlot+1)*4 > len(t.slots)*3 {
		t.growIndex()
	}
	i, _ := t.slotOf(id)
	t.slots[i] = row + 1
	t.nSlot++
}

// growIndex doubles the id index, rehashing every entry.
func (t *table) growIndex() {
	old := t.slots
	t.slots = make([]uint32, 2*len(old))
	mask := len(t.slots) - 1
	for _, s := range old {
		if s == 0 {
			continue
		}
		i := int(t.rowHash(s-1)) & mask
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// unindex empties slot i, moving later entries of its probe run back so
// that every entry stays reachable from its home slot.
func (t *table) unindex(i int) {
	mask := len(t.slots) - 1
	for j := (i + 1) & mask; t.slots[j] != 0; j = (j + 1) & mask {
		home := int(t.rowHash(t.slots[j]-1)) & mask
		// The entry at j may move to i unless its home lies cyclically
		// in (i, j].
		if (i <= j && (home <= i || home > j)) || (i > j && home <= i && home > j) {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = 0
	t.nSlot--
}

// remove drops an incident (its rows stay until compaction).
func (t *table) remove(id app.IncidentID) bool {
	i, ok := t.slotOf(id)
	if !ok {
		return false
	}
	r := t.slots[i] - 1
	t.unindex(i)
	b, j := t.incAt(int(r))
	b.bits[j] &^= bitAlive
	t.deadInc++
	t.deadUnit += int(b.nUnits[j])
	t.gen++
	return true
}

// put stores an incident's metrics, replacing any earlier version.
func (t *table) put(im *IncidentMetrics, loc *time.Location) {
	t.remove(im.ID)
	row := t.nInc
	if row>>blockBits == len(t.inc) {
		t.inc = append(t.inc, &incBlock{unitBase: uint32(t.nUnit)})
	}
	t.nInc++
	b, j := t.incAt(row)
	opened := im.EventOpened.Unix()
	b.opened[j] = uint32(min(max(opened, 0), math.MaxUint32))
	b.widen(j)
	b.end[j] = -1
	if im.hasEnd {
		b.end[j] = int32(min(im.end-opened, math.MaxInt32))
	}
	b.dept[j] = t.depts.id(im.ID.Department)
	b.kind[j] = t.kindID(kind{t.types.id(im.Type), t.subtypes.id(im.Subtype)})
	b.shift[j] = narrow16(t.shifts.id(im.Shift))
	zid := t.zones.id(im.Timezone)
	if int(zid) == len(t.locs) {
		t.locs = append(t.locs, loc)
	}
	b.zone[j] = narrow16(zid)
	b.numOff[j] = uint32(len(t.arena))
	b.numLen[j] = uint16(min(len(im.ID.Number), math.MaxUint16))
	t.arena = append(t.arena, im.ID.Number[:b.numLen[j]]...)
	month := uint16(0)
	if y := im.Local.Year; y >= 1970 {
		month = uint16(min((y-1970)*12+int(im.Local.Month)-1, math.MaxUint16-1))
	}
	b.month[j] = month
	t.minMonth, t.maxMonth = min(t.minMonth, month), max(t.maxMonth, month)
	b.hour[j] = uint8(im.Local.Hour)
	b.weekday[j] = uint8(im.Local.Weekday)
	b.bits[j] = bitAlive
	if im.EMS {
		b.bits[j] |= bitEMS
	}
	var flags uint32
	for k := range im.Values {
		v := &im.Values[k]
		if k < storedIncidentMetrics {
			b.dur[k][j] = clamp32(v.Seconds)
		}
		flags |= uint32(v.Reason()) << (3 * k)
	}
	b.flags[j] = flags
	n := min(len(im.Units), math.MaxUint16)
	b.nUnits[j] = uint16(n)
	b.firstArr[j], b.firstEng[j] = unitIndex8(im.FirstArriving, n), unitIndex8(im.FirstEngine, n)
	for k := range n {
		u := &im.Units[k]
		urow := t.nUnit
		if urow>>blockBits == len(t.units) {
			t.units = append(t.units, new(unitBlock))
		}
		t.nUnit++
		ub, uj := t.unitAt(urow)
		ub.prof[uj] = t.profileID(profile{
			unit: t.unitIDs.id(u.UnitID), station: t.stations.id(u.Station),
			utype: narrow16(t.utypes.id(u.UnitType)), shift: narrow16(t.shifts.id(u.Shift)),
		})
		var uf uint16
		for m := range u.Values {
			v := &u.Values[m]
			ub.dur[m][uj] = clamp32(v.Seconds)
			uf |= uint16(v.Reason()) << (3 * m)
		}
		ub.flags[uj] = uf
	}
	t.index(im.ID, uint32(row))
	t.gen++
}

func unitIndex8(i, n int) uint8 {
	if i < 0 || i >= n || i >= noUnit {
		return noUnit
	}
	return uint8(i)
}

func clamp32(v int64) int32 { return int32(min(max(v, math.MinInt32), math.MaxInt32)) }

// needsCompaction reports whether dead rows take more than a quarter of
// the unit table.
func (t *table) needsCompaction() bool {
	return t.deadUnit > t.compactMin && t.deadUnit*4 > t.nUnit || t.deadInc > t.compactMin && t.deadInc*4 > t.nInc
}

// compacted returns a copy of t without dead rows (dictionaries shared).
func (t *table) compacted() *table {
	n := newTable(t.seed)
	n.depts, n.types, n.subtypes, n.shifts, n.unitIDs, n.stations, n.utypes, n.zones = t.depts, t.types, t.subtypes, t.shifts, t.unitIDs, t.stations, t.utypes, t.zones
	n.locs, n.profiles, n.profileIDs, n.kinds, n.kindIDs = t.locs, t.profiles, t.profileIDs, t.kinds, t.kindIDs
	n.minMonth, n.maxMonth, n.gen, n.compactMin = t.minMonth, t.maxMonth, t.gen+1, t.compactMin
	n.rowsPerWorker, n.forceWorkers = t.rowsPerWorker, t.forceWorkers
	n.arena = make([]byte, 0, len(t.arena))
	for bi, b := range t.inc {
		start := int(b.unitBase)
		for j := range min(blockSize, t.nInc-bi<<blockBits) {
			nu := int(b.nUnits[j])
			if b.bits[j]&bitAlive != 0 {
				n.copyRow(t, b, j, start)
			}
			start += nu
		}
	}
	return n
}

// copyRow appends incident row j of b (whose units start at unit row
// start) from table o.
func (t *table) copyRow(o *table, b *incBlock, j, start int) {
	row := t.nInc
	if row>>blockBits == len(t.inc) {
		t.inc = append(t.inc, &incBlock{unitBase: uint32(t.nUnit)})
	}
	t.nInc++
	nb, nj := t.incAt(row)
	nb.opened[nj], nb.end[nj], nb.dept[nj], nb.kind[nj], nb.flags[nj] = b.opened[j], b.end[j], b.dept[j], b.kind[j], b.flags[j]
	nb.widen(nj)
	nb.shift[nj], nb.zone[nj], nb.month[nj], nb.nUnits[nj] = b.shift[j], b.zone[j], b.month[j], b.nUnits[j]
	nb.hour[nj], nb.weekday[nj], nb.bits[nj], nb.firstArr[nj], nb.firstEng[nj] = b.hour[j], b.weekday[j], b.bits[j], b.firstArr[j], b.firstEng[j]
	for k := range nb.dur {
		nb.dur[k][nj] = b.dur[k][j]
	}
	off, l := b.numOff[j], uint32(b.numLen[j])
	nb.numOff[nj], nb.numLen[nj] = uint32(len(t.arena)), b.numLen[j]
	t.arena = append(t.arena, o.arena[off:off+l]...)
	for u := start; u < start+int(b.nUnits[j]); u++ {
		ub, uj := o.unitAt(u)
		nurow := t.nUnit
		if nurow>>blockBits == len(t.units) {
			t.units = append(t.units, new(unitBlock))
		}
		t.nUnit++
		nub, nuj := t.unitAt(nurow)
		nub.prof[nuj], nub.flags[nuj] = ub.prof[uj], ub.flags[uj]
		for k := range nub.dur {
			nub.dur[k][nuj] = ub.dur[k][uj]
		}
	}
	t.index(app.IncidentID{Department: t.depts.name(b.dept[j]), Number: string(o.arena[off : off+l])}, uint32(row))
}

// live returns the number of live incidents and unit responses.
func (t *table) live() (incidents, units int) { return t.nInc - t.deadInc, t.nUnit - t.deadUnit }
