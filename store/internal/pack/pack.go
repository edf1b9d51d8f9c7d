// Package pack stores the parts of incident records that JSON and S2
// store poorly in a compact binary form, for the store's format-2
// records: RFC 3339 timestamps, coordinates with six decimals, and
// geohashes derived from those coordinates.
//
// S2 has no entropy coding, so as JSON each digit and geohash character
// costs about a byte even after compression. Packed, a timestamp is a
// varint delta of seconds (and an offset only where it changes), a
// coordinate a varint delta of micro-degrees, and a geohash that is the
// geohash of its own position is not stored at all.
//
// Packing is lossless or not done: a value is packed only when it can be
// rebuilt exactly (the same timestamp text, the same float64 bits, the
// same geohash text); anything else stays in the JSON that the store
// keeps beside the packed part, and the rebuilt document marshals to the
// same bytes as the original.
//
// The encodings (Apparatus, Incident) are part of the on-disk format:
// change them only together with a new record format in the store.
// Varints are encoding/binary's; "zigzag" is its signed varint.
package pack

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"cadbox/app"

	"github.com/mmcloughlin/geohash"
)

// ErrCorrupt reports packed bytes that this package did not write.
var ErrCorrupt = errors.New("corrupt packed record")

// maxPrecision is the longest geohash the library encodes (60 bits).
const maxPrecision = 12

// timeParts returns t as Unix seconds and an offset in minutes when
// those rebuild t's exact text: no fractional seconds, and "Z" rather
// than "+00:00" for UTC (the form Go's RFC 3339 layout writes).
func timeParts(t *app.Time) (sec, offMin int64, ok bool) {
	tt := t.Time()
	_, off := tt.Zone()
	if off%60 != 0 {
		return 0, 0, false
	}
	sec, offMin = tt.Unix(), int64(off/60)
	if formatTime(sec, offMin) != t.String() {
		return 0, 0, false
	}
	return sec, offMin, true
}

func formatTime(sec, offMin int64) string {
	return time.Unix(sec, 0).In(time.FixedZone("", int(offMin)*60)).Format(time.RFC3339)
}

// parseTime rebuilds a packed timestamp. It parses the text as the JSON
// decoder does, so the value (its location included) is the one a JSON
// record would have given.
func parseTime(sec, offMin int64) (*app.Time, error) {
	t, err := app.ParseTime(formatTime(sec, offMin))
	if err != nil {
		return nil, errors.Join(ErrCorrupt, err)
	}
	return t, nil
}

// microDegrees returns x in millionths when that number, divided by a
// million, is x to the bit: then the JSON number reads back identical.
func microDegrees(x float64) (int64, bool) {
	if !(math.Abs(x) <= 1e9) { // also NaN; keeps x*1e6 well within int64
		return 0, false
	}
	m := int64(math.Round(x * 1e6))
	return m, math.Float64bits(fromMicro(m)) == math.Float64bits(x)
}

func fromMicro(m int64) float64 { return float64(m) / 1e6 }

// packableCoord reports whether an optional coordinate can be packed.
func packableCoord(x *float64) bool {
	if x == nil {
		return true
	}
	_, ok := microDegrees(*x)
	return ok
}

// derivedGeohash returns the geohash of (lat, lon) with precision
// characters, and whether that is well defined. The library's two
// implementations (amd64 BMI2 assembly and pure Go) overflow differently
// at latitude 90 and longitude 180, so those are excluded; at every
// other position in micro-degrees they agree with exact bisection
// (TestGeohashExact), so a derived geohash reads back the same on any
// machine.
func derivedGeohash(lat, lon float64, precision int) (string, bool) {
	if precision < 1 || precision > maxPrecision || !(lat >= -90 && lat < 90 && lon >= -180 && lon < 180) {
		return "", false
	}
	return geohash.EncodeWithPrecision(lat, lon, uint(precision)), true
}

// derives reports whether gh is the geohash of the position (lat, lon),
// all three present.
func derives(gh *string, lat, lon *float64) bool {
	if gh == nil || lat == nil || lon == nil {
		return false
	}
	d, ok := derivedGeohash(*lat, *lon, len(*gh))
	return ok && d == *gh
}

// decoder reads from src, remembering the first error.
type decoder struct {
	src []byte
	pos int
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = ErrCorrupt
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.src[d.pos:])
	if n <= 0 {
		d.fail()
		return 0
	}
	d.pos += n
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.src[d.pos:])
	if n <= 0 {
		d.fail()
		return 0
	}
	d.pos += n
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if d.pos >= len(d.src) {
		d.fail()
		return 0
	}
	b := d.src[d.pos]
	d.pos++
	return b
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.src)-d.pos) {
		d.fail()
		return ""
	}
	s := string(d.src[d.pos : d.pos+int(n)])
	d.pos += int(n)
	return s
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}
