package pack

import (
	"encoding/binary"
	"fmt"

	"cadbox/app"
)

// The incident encoding holds the description's timestamps and the
// address's position and geohash, each when it packs exactly:
//
//	uvarint mask               bit i: field i (see incidentTimes, then bitLat, bitLon, bitGeohash) is packed
//	uvarint newOffset          bit i: time field i has its offset written (else the previous packed time's)
//	for each packed time field, in table order:
//	  zigzag seconds           the first: Unix seconds; the others: minus the first's
//	  [zigzag minutes]         its offset from UTC (newOffset bit)
//	[zigzag micro-degrees]     address latitude
//	[zigzag micro-degrees]     address longitude
//	[byte precision]           address geohash: the geohash of the address's position with 1-12 characters
//
// The times are taken from the first because they cluster around
// event_opened (seconds to an hour away), where deltas from one another
// would jump back and forth.

// incidentTimes returns pointers to the description's timestamp fields,
// in the order of their mask bits (0-6). The order and the bits are part
// of the format.
func incidentTimes(d *app.Description) [7]**app.Time {
	return [...]**app.Time{&d.EventOpened, &d.EventClosed, &d.PSAPAnswerTime, &d.FirstUnitDispatched,
		&d.FirstUnitEnroute, &d.FirstUnitArrived, &d.LOISearchComplete}
}

// Mask bits after the time fields.
const (
	bitLat     = 7
	bitLon     = 8
	bitGeohash = 9
	maskAll    = 1<<(bitGeohash+1) - 1
)

// IncidentParts is what ReadIncident read: values to put back into an
// incident.
type IncidentParts struct {
	mask      uint64
	times     [bitLat]*app.Time
	lat, lon  float64
	precision int
}

// Incident appends to dst the packed form of inc's description
// timestamps and address position that pack exactly, and returns it
// with rest: a shallow copy of inc (with copies of its Description and
// Address) without them. rest is what the caller stores as JSON.
func Incident(dst []byte, inc *app.Incident) (out []byte, rest *app.Incident) {
	r := *inc
	rest = &r
	var mask, newOffset uint64
	var secs [bitLat]int64
	var offs [bitLat]int64
	if inc.Description != nil {
		d := *inc.Description
		rest.Description = &d
		for i, f := range incidentTimes(&d) {
			if *f == nil {
				continue
			}
			if sec, off, ok := timeParts(*f); ok {
				mask |= 1 << i
				secs[i], offs[i] = sec, off
				*f = nil
			}
		}
	}
	var lat, lon int64
	if inc.Address != nil {
		a := *inc.Address
		rest.Address = &a
		// The geohash first: its test needs both coordinates, packed or
		// not; the reader restores them before deriving it.
		if derives(a.Geohash, a.Latitude, a.Longitude) {
			mask |= 1 << bitGeohash
		}
		if a.Latitude != nil {
			if m, ok := microDegrees(*a.Latitude); ok {
				mask |= 1 << bitLat
				lat = m
				a.Latitude = nil
			}
		}
		if a.Longitude != nil {
			if m, ok := microDegrees(*a.Longitude); ok {
				mask |= 1 << bitLon
				lon = m
				a.Longitude = nil
			}
		}
		if mask&(1<<bitGeohash) != 0 {
			a.Geohash = nil
		}
	}
	// Offsets are written where they change, flagged in a second mask.
	prevOff := int64(0)
	for i := range bitLat {
		if mask&(1<<i) != 0 && (newOffset == 0 || offs[i] != prevOff) {
			newOffset |= 1 << i
			prevOff = offs[i]
		}
	}
	dst = binary.AppendUvarint(dst, mask)
	dst = binary.AppendUvarint(dst, newOffset)
	first := int64(0)
	for i, n := 0, 0; i < bitLat; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		if n == 0 {
			first = secs[i]
			dst = binary.AppendVarint(dst, secs[i])
		} else {
			dst = binary.AppendVarint(dst, secs[i]-first)
		}
		n++
		if newOffset&(1<<i) != 0 {
			dst = binary.AppendVarint(dst, offs[i])
		}
	}
	if mask&(1<<bitLat) != 0 {
		dst = binary.AppendVarint(dst, lat)
	}
	if mask&(1<<bitLon) != 0 {
		dst = binary.AppendVarint(dst, lon)
	}
	if mask&(1<<bitGeohash) != 0 {
		dst = append(dst, byte(len(*inc.Address.Geohash)))
	}
	return dst, rest
}

// ReadIncident reads what Incident wrote at the start of src and returns
// it and the number of bytes it took.
func ReadIncident(src []byte) (*IncidentParts, int, error) {
	d := decoder{src: src}
	p := &IncidentParts{mask: d.uvarint()}
	newOffset := d.uvarint()
	if d.err != nil || p.mask&^maskAll != 0 || newOffset&^p.mask&(1<<bitLat-1) != 0 || newOffset>>bitLat != 0 {
		return nil, 0, ErrCorrupt
	}
	var first, off int64
	haveFirst, haveOff := false, false
	for i := range bitLat {
		if p.mask&(1<<i) == 0 {
			continue
		}
		sec := d.varint()
		if haveFirst {
			sec += first
		} else {
			first, haveFirst = sec, true
		}
		if newOffset&(1<<i) != 0 {
			off, haveOff = d.varint(), true
		} else if !haveOff {
			return nil, 0, fmt.Errorf("%w: timestamp without an offset", ErrCorrupt)
		}
		if d.err != nil {
			return nil, 0, d.err
		}
		t, err := parseTime(sec, off)
		if err != nil {
			return nil, 0, err
		}
		p.times[i] = t
	}
	if p.mask&(1<<bitLat) != 0 {
		p.lat = fromMicro(d.varint())
	}
	if p.mask&(1<<bitLon) != 0 {
		p.lon = fromMicro(d.varint())
	}
	if p.mask&(1<<bitGeohash) != 0 {
		p.precision = int(d.byte())
	}
	if d.err != nil {
		return nil, 0, d.err
	}
	return p, d.pos, nil
}

// Restore puts the packed values into inc, the incident read from the
// JSON beside them.
func (p *IncidentParts) Restore(inc *app.Incident) error {
	if p.mask&(1<<bitLat-1) != 0 {
		if inc.Description == nil {
			return fmt.Errorf("%w: packed timestamps without a description", ErrCorrupt)
		}
		for i, f := range incidentTimes(inc.Description) {
			if p.mask&(1<<i) == 0 {
				continue
			}
			if *f != nil {
				return fmt.Errorf("%w: description timestamp %d both packed and in JSON", ErrCorrupt, i)
			}
			*f = p.times[i]
		}
	}
	if p.mask>>bitLat == 0 {
		return nil
	}
	a := inc.Address
	if a == nil {
		return fmt.Errorf("%w: packed position without an address", ErrCorrupt)
	}
	if p.mask&(1<<bitLat) != 0 {
		if a.Latitude != nil {
			return fmt.Errorf("%w: address latitude both packed and in JSON", ErrCorrupt)
		}
		a.Latitude = app.Ptr(p.lat)
	}
	if p.mask&(1<<bitLon) != 0 {
		if a.Longitude != nil {
			return fmt.Errorf("%w: address longitude both packed and in JSON", ErrCorrupt)
		}
		a.Longitude = app.Ptr(p.lon)
	}
	if p.mask&(1<<bitGeohash) != 0 {
		if a.Geohash != nil {
			return fmt.Errorf("%w: address geohash both packed and in JSON", ErrCorrupt)
		}
		gh, err := rebuildGeohash(a.Latitude, a.Longitude, p.precision)
		if err != nil {
			return err
		}
		a.Geohash = gh
	}
	return nil
}
