package store

import (
	"bytes"
	"encoding/binary"
	"time"

	"cadbox/app"
)

// Keys are byte strings built so that bbolt's sorted order is the order
// cadbox reads in. Ids never contain a zero byte (app.ValidID), so 0x00
// separates the parts of a composite key.
const sep = 0x00

// incidentKey is fd_id 0x00 incident_number.
func incidentKey(id app.IncidentID) []byte {
	k := make([]byte, 0, len(id.Department)+1+len(id.Number))
	k = append(k, id.Department...)
	k = append(k, sep)
	return append(k, id.Number...)
}

func parseIncidentKey(k []byte) (app.IncidentID, bool) {
	i := bytes.IndexByte(k, sep)
	if i < 0 {
		return app.IncidentID{}, false
	}
	return app.IncidentID{Department: string(k[:i]), Number: string(k[i+1:])}, true
}

// childPrefix is the prefix of an incident's apparatus and revision keys.
func childPrefix(inc []byte) []byte {
	p := make([]byte, 0, len(inc)+1)
	p = append(p, inc...)
	return append(p, sep)
}

// apparatusKey is incidentKey 0x00 unit_id: a prefix scan on
// incidentKey 0x00 lists an incident's units.
func apparatusKey(inc []byte, unitID string) []byte {
	return append(childPrefix(inc), unitID...)
}

// revisionKey is incidentKey 0x00 rev (8 bytes big-endian).
func revisionKey(inc []byte, rev uint64) []byte {
	return binary.BigEndian.AppendUint64(childPrefix(inc), rev)
}

// timeKey encodes t so that byte order is time order: Unix nanoseconds
// with the sign bit flipped, big-endian.
func timeKey(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(t.UnixNano())^(1<<63))
}

func parseTimeKey(b []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(b)^(1<<63))).UTC()
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// openedKey (idx_opened) is timeKey(event_opened) incidentKey.
func openedKey(opened time.Time, inc []byte) []byte {
	return append(timeKey(opened), inc...)
}

// prefixedTimeKey (idx_dept, idx_unit, idx_station) is
// prefix 0x00 timeKey(event_opened) rest.
func prefixedTimeKey(prefix string, opened time.Time, rest ...[]byte) []byte {
	k := make([]byte, 0, len(prefix)+9+32)
	k = append(k, prefix...)
	k = append(k, sep)
	k = append(k, timeKey(opened)...)
	for i, r := range rest {
		if i > 0 {
			k = append(k, sep)
		}
		k = append(k, r...)
	}
	return k
}

// indexable reports whether a free-text value (a station name) can be
// part of an index key.
func indexable(s string) bool {
	return s != "" && len(s) <= app.MaxIDLength && bytes.IndexByte([]byte(s), sep) < 0
}
