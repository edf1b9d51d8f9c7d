package pack

import (
	"encoding/binary"
	"fmt"
	"slices"

	"cadbox/app"
)

// The apparatus encoding holds the unit_status entries that pack exactly
// (all of a status's members are timestamp, latitude, longitude, geohash
// and order, each packable), in ascending key order:
//
//	uvarint count              statuses packed
//	uvarint geohashFrom        0, or i+1: the apparatus's geohash is status i's geohash
//	count times:
//	  uvarint code             the key, by statusKey; 0: a literal key follows
//	  [uvarint len, bytes]     the literal key (code 0 only)
//	  byte flags               stFlag* and the geohash mode (gh*)
//	  [zigzag seconds]         timestamp: Unix seconds minus the previous packed timestamp's (0 for the first)
//	  [zigzag minutes]         its offset from UTC (stFlagNewOffset; otherwise the previous one's)
//	  [zigzag micro-degrees]   latitude minus the previous packed latitude (0 for the first)
//	  [zigzag micro-degrees]   longitude minus the previous packed longitude (0 for the first)
//	  [zigzag order]           order
//	  [byte precision]         ghDerived: the geohash of the position, with 1-11 characters
//	  [uvarint len, bytes]     ghLiteral: the geohash text

// Flags of one packed status. Bit 7 is reserved and must be 0.
const (
	stFlagTime      = 1 << 0 // timestamp present
	stFlagNewOffset = 1 << 1 // timestamp offset written (else the previous one)
	stFlagLat       = 1 << 2 // latitude present
	stFlagLon       = 1 << 3 // longitude present
	stFlagOrder     = 1 << 4 // order present
	ghShift         = 5      // bits 5-6: how the geohash is kept (gh*)
	ghMask          = 3 << ghShift
	stFlagReserved  = 1 << 7
)

// Geohash modes (status flag bits 5-6).
const (
	ghNone      = 0 // no geohash
	ghDerived12 = 1 // the 12-character geohash of the status's position
	ghDerived   = 2 // the geohash of the position, precision byte follows
	ghLiteral   = 3 // the text follows
)

// statusKey returns the key of a table code (1-based; 0 is the escape
// for a literal key). The table is part of the format: append new keys
// at the end, never reorder or remove one.
func statusKey(code uint64) (string, bool) {
	switch code {
	case 1:
		return "dispatched", true
	case 2:
		return "enroute", true
	case 3:
		return "arrived", true
	case 4:
		return "cleared", true
	case 5:
		return "available", true
	case 6:
		return "acknowledged", true
	case 7:
		return "~", true
	case 8:
		return "transport", true
	case 9:
		return "transporting", true
	case 10:
		return "at_hospital", true
	case 11:
		return "on_scene", true
	case 12:
		return "in_quarters", true
	case 13:
		return "staged", true
	case 14:
		return "cancelled", true
	}
	return "", false
}

// numCodes is one more than the largest code in statusKey's table.
const numCodes = 15

// statusCode returns the table code of key, or 0.
func statusCode(key string) uint64 {
	for c := uint64(1); c < numCodes; c++ {
		if k, _ := statusKey(c); k == key {
			return c
		}
	}
	return 0
}

// ApparatusParts is what ReadApparatus read: the statuses (and the
// apparatus geohash) to put back into an apparatus.
type ApparatusParts struct {
	keys     []string
	statuses []*app.UnitStatus
	// geohashFrom is the index of the status whose geohash is also the
	// apparatus's, or -1.
	geohashFrom int
}

// Len returns the number of packed statuses.
func (p *ApparatusParts) Len() int { return len(p.keys) }

// statusState is what deltas are taken from; writer and reader keep the
// same.
type statusState struct {
	sec, lat, lon int64
	offset        int64 // minutes
	haveOffset    bool
}

// Apparatus appends to dst the packed form of u's statuses that pack
// exactly and returns it with rest: a shallow copy of u without those
// statuses (UnitStatus nil when none is left) and without its geohash
// when that is recorded as one of theirs (in the data, the dispatched
// position's). rest is what the caller stores as JSON.
func Apparatus(dst []byte, u *app.Apparatus) (out []byte, rest *app.Apparatus) {
	var keys []string
	for k, st := range u.UnitStatus {
		if packableStatus(st) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	r := *u
	rest = &r
	if len(keys) > 0 {
		if len(keys) == len(u.UnitStatus) {
			rest.UnitStatus = nil
		} else {
			rest.UnitStatus = make(map[string]*app.UnitStatus, len(u.UnitStatus)-len(keys))
			for k, st := range u.UnitStatus {
				if _, found := slices.BinarySearch(keys, k); !found {
					rest.UnitStatus[k] = st
				}
			}
		}
	}
	geohashFrom := -1
	if u.Geohash != nil {
		for i, k := range keys {
			if gh := u.UnitStatus[k].Geohash; gh != nil && *gh == *u.Geohash {
				geohashFrom = i
				rest.Geohash = nil
				break
			}
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(keys)))
	dst = binary.AppendUvarint(dst, uint64(geohashFrom+1))
	var s statusState
	for _, k := range keys {
		dst = s.appendStatus(dst, k, u.UnitStatus[k])
	}
	return dst, rest
}

// packableStatus reports whether st can be packed exactly.
func packableStatus(st *app.UnitStatus) bool {
	if st == nil || len(st.Extra) > 0 || !packableCoord(st.Latitude) || !packableCoord(st.Longitude) {
		return false
	}
	if st.Timestamp != nil {
		if _, _, ok := timeParts(st.Timestamp); !ok {
			return false
		}
	}
	return true
}

func (s *statusState) appendStatus(dst []byte, key string, st *app.UnitStatus) []byte {
	code := statusCode(key)
	dst = binary.AppendUvarint(dst, code)
	if code == 0 {
		dst = appendString(dst, key)
	}
	flagsAt := len(dst)
	dst = append(dst, 0)
	var flags byte
	if st.Timestamp != nil {
		sec, off, _ := timeParts(st.Timestamp)
		flags |= stFlagTime
		dst = binary.AppendVarint(dst, sec-s.sec)
		s.sec = sec
		if !s.haveOffset || off != s.offset {
			flags |= stFlagNewOffset
			dst = binary.AppendVarint(dst, off)
			s.offset, s.haveOffset = off, true
		}
	}
	if st.Latitude != nil {
		m, _ := microDegrees(*st.Latitude)
		flags |= stFlagLat
		dst = binary.AppendVarint(dst, m-s.lat)
		s.lat = m
	}
	if st.Longitude != nil {
		m, _ := microDegrees(*st.Longitude)
		flags |= stFlagLon
		dst = binary.AppendVarint(dst, m-s.lon)
		s.lon = m
	}
	if st.Order != nil {
		flags |= stFlagOrder
		dst = binary.AppendVarint(dst, *st.Order)
	}
	if gh := st.Geohash; gh != nil {
		switch {
		case derives(gh, st.Latitude, st.Longitude) && len(*gh) == maxPrecision:
			flags |= ghDerived12 << ghShift
		case derives(gh, st.Latitude, st.Longitude):
			flags |= ghDerived << ghShift
			dst = append(dst, byte(len(*gh)))
		default:
			flags |= ghLiteral << ghShift
			dst = appendString(dst, *gh)
		}
	}
	dst[flagsAt] = flags
	return dst
}

// ReadApparatus reads what Apparatus wrote at the start of src and
// returns it and the number of bytes it took.
func ReadApparatus(src []byte) (*ApparatusParts, int, error) {
	d := decoder{src: src}
	count := d.uvarint()
	from := d.uvarint()
	if d.err != nil || count > uint64(len(src)) || from > count {
		return nil, 0, ErrCorrupt
	}
	p := &ApparatusParts{keys: make([]string, 0, count), statuses: make([]*app.UnitStatus, 0, count), geohashFrom: int(from) - 1}
	var s statusState
	for range count {
		key, st, err := s.readStatus(&d)
		if err != nil {
			return nil, 0, err
		}
		if n := len(p.keys); n > 0 && p.keys[n-1] >= key {
			return nil, 0, fmt.Errorf("%w: status keys out of order", ErrCorrupt)
		}
		p.keys = append(p.keys, key)
		p.statuses = append(p.statuses, st)
	}
	if p.geohashFrom >= 0 && p.statuses[p.geohashFrom].Geohash == nil {
		return nil, 0, fmt.Errorf("%w: apparatus geohash refers to a status without one", ErrCorrupt)
	}
	return p, d.pos, nil
}

// Restore puts the packed statuses (and the apparatus geohash, when it
// was recorded as one of theirs) into u, the apparatus read from the
// JSON beside them.
func (p *ApparatusParts) Restore(u *app.Apparatus) error {
	if len(p.keys) == 0 {
		return nil
	}
	if u.UnitStatus == nil {
		u.UnitStatus = make(map[string]*app.UnitStatus, len(p.keys))
	}
	for i, k := range p.keys {
		if _, dup := u.UnitStatus[k]; dup {
			return fmt.Errorf("%w: status %q both packed and in JSON", ErrCorrupt, k)
		}
		u.UnitStatus[k] = p.statuses[i]
	}
	if p.geohashFrom >= 0 {
		if u.Geohash != nil {
			return fmt.Errorf("%w: apparatus geohash both packed and in JSON", ErrCorrupt)
		}
		u.Geohash = app.Ptr(*p.statuses[p.geohashFrom].Geohash)
	}
	return nil
}

func (s *statusState) readStatus(d *decoder) (string, *app.UnitStatus, error) {
	var key string
	if code := d.uvarint(); code == 0 {
		key = d.string()
	} else if k, ok := statusKey(code); ok {
		key = k
	} else if d.err == nil {
		return "", nil, fmt.Errorf("%w: unknown status code %d", ErrCorrupt, code)
	}
	flags := d.byte()
	if d.err != nil {
		return "", nil, d.err
	}
	if flags&stFlagReserved != 0 || flags&stFlagNewOffset != 0 && flags&stFlagTime == 0 {
		return "", nil, fmt.Errorf("%w: status flags %#x", ErrCorrupt, flags)
	}
	st := new(app.UnitStatus)
	if flags&stFlagTime != 0 {
		s.sec += d.varint()
		if flags&stFlagNewOffset != 0 {
			s.offset, s.haveOffset = d.varint(), true
		} else if !s.haveOffset {
			return "", nil, fmt.Errorf("%w: timestamp without an offset", ErrCorrupt)
		}
		if d.err != nil {
			return "", nil, d.err
		}
		t, err := parseTime(s.sec, s.offset)
		if err != nil {
			return "", nil, err
		}
		st.Timestamp = t
	}
	if flags&stFlagLat != 0 {
		s.lat += d.varint()
		st.Latitude = app.Ptr(fromMicro(s.lat))
	}
	if flags&stFlagLon != 0 {
		s.lon += d.varint()
		st.Longitude = app.Ptr(fromMicro(s.lon))
	}
	if flags&stFlagOrder != 0 {
		st.Order = app.Ptr(d.varint())
	}
	switch mode := flags & ghMask >> ghShift; mode {
	case ghDerived12, ghDerived:
		precision := maxPrecision
		if mode == ghDerived {
			precision = int(d.byte())
		}
		if d.err != nil {
			return "", nil, d.err
		}
		gh, err := rebuildGeohash(st.Latitude, st.Longitude, precision)
		if err != nil {
			return "", nil, err
		}
		st.Geohash = gh
	case ghLiteral:
		st.Geohash = app.Ptr(d.string())
	}
	if d.err != nil {
		return "", nil, d.err
	}
	return key, st, nil
}

// rebuildGeohash rebuilds a geohash recorded as derived from its
// position.
func rebuildGeohash(lat, lon *float64, precision int) (*string, error) {
	if lat == nil || lon == nil {
		return nil, fmt.Errorf("%w: derived geohash without a position", ErrCorrupt)
	}
	gh, ok := derivedGeohash(*lat, *lon, precision)
	if !ok {
		return nil, fmt.Errorf("%w: geohash of precision %d at %v,%v", ErrCorrupt, precision, *lat, *lon)
	}
	return &gh, nil
}
