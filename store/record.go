package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"cadbox/app"
	"cadbox/app/codec"
	"cadbox/store/internal/pack"

	"github.com/klauspost/compress/s2"
)

// Record formats. Each stored value starts with its format byte so the
// encoding can change without rewriting old data.
const (
	formatV1 = 1 // header fields, then S2-compressed (with records.dict) compact JSON
	// formatV2 (incident and apparatus records) adds, between the header
	// and the compressed JSON, the values store/internal/pack stores
	// better than JSON does (timestamps, coordinates, derived geohashes),
	// which the JSON then lacks; it is compressed with incidents2.dict or
	// apparatus2.dict. Summaries and revisions are still format 1, and
	// format-1 incident and apparatus records stay readable.
	formatV2 = 2
)

var errCorrupt = errors.New("corrupt record")

// compressor compresses stored JSON with S2 (a Snappy-compatible LZ77)
// and a dictionary trained on incident records (records.dict and the
// format-2 dictionaries, embedded). Records are small and share most of
// their member names and values, so the dictionary makes each a third of
// its size, at a few microseconds a record; zstd with the same dictionary
// saves a further ~6% but costs about twenty times the CPU per record
// (measured in store/record.go's history: 4 µs vs 78 µs), and compression
// is on the single commit path. S2's EncodeBetter (same format, so a
// drop-in) makes incident records 15% and summaries 16% smaller, but it
// clears 576 KiB of hash tables per call, ~18 µs whatever the record's
// size: it cost a quarter to a third of bulk-ingest throughput, so Encode
// it is.
type compressor struct {
	dict *s2.Dict
}

func newCompressor(name string, dict []byte) (*compressor, error) {
	d := s2.NewDict(dict)
	if d == nil {
		return nil, fmt.Errorf("%s is not a valid S2 dictionary", name)
	}
	return &compressor{dict: d}, nil
}

func (c *compressor) compress(dst, src []byte) []byte { return c.dict.Encode(dst, src) }

func (c *compressor) decompress(src []byte) ([]byte, error) {
	b, err := c.dict.Decode(nil, src)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	return b, nil
}

// incidentRecord is the value in the incidents bucket: the incident without
// its apparatus (they live in the apparatus bucket), with version metadata.
// The body of a format-2 record (written now) is the packed description
// timestamps and address position followed by the compressed JSON of the
// rest (see DB.encodeHead); that of a format-1 record (read only) is
// compressed JSON alone.
type incidentRecord struct {
	format   byte
	rev      uint64
	modified time.Time
	body     []byte
}

func (r incidentRecord) encode() []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(r.body))
	b = append(b, r.format)
	b = binary.AppendUvarint(b, r.rev)
	b = binary.AppendVarint(b, r.modified.UnixNano())
	return append(b, r.body...)
}

func decodeIncidentRecord(v []byte) (incidentRecord, error) {
	var r incidentRecord
	if len(v) < 1 || v[0] != formatV1 && v[0] != formatV2 {
		return r, errCorrupt
	}
	r.format = v[0]
	v = v[1:]
	rev, n := binary.Uvarint(v)
	if n <= 0 {
		return r, errCorrupt
	}
	v = v[n:]
	mod, n := binary.Varint(v)
	if n <= 0 {
		return r, errCorrupt
	}
	r.rev, r.modified, r.body = rev, time.Unix(0, mod).UTC(), v[n:]
	return r, nil
}

// encodeHead returns the body of the format-2 record of inc without its
// apparatus.
func (s *DB) encodeHead(inc *app.Incident) ([]byte, error) {
	h := *inc
	h.Apparatus = nil
	body, rest := pack.Incident(nil, &h)
	return encodeBody(body, rest, s.zcIncidents)
}

// decodeHead reads the incident (without apparatus) of a record of
// either format.
func (s *DB) decodeHead(rec incidentRecord) (*app.Incident, error) {
	return decodeBody(s, rec.format, rec.body, s.zcIncidents, pack.ReadIncident)
}

// encodeBody completes the body of a format-2 record: after the values
// that pack exactly (packed), the rest as JSON compressed with zc.
func encodeBody(packed []byte, rest any, zc *compressor) ([]byte, error) {
	js, err := codec.Marshal(rest)
	if err != nil {
		return nil, err
	}
	return append(packed, zc.compress(nil, js)...), nil
}

// restorer puts packed values back into a decoded T.
type restorer[T any] interface {
	Restore(*T) error
}

// decodeBody reads the body of an incident or apparatus record: in format
// 2 the packed values (read by read) and the rest as JSON compressed with
// zc2, in format 1 JSON alone compressed with the format-1 dictionary.
func decodeBody[T any, R restorer[T]](s *DB, format byte, body []byte, zc2 *compressor, read func([]byte) (R, int, error)) (*T, error) {
	zc, doc := s.zc, body
	var packed R
	v2 := format == formatV2
	if v2 {
		p, n, err := read(body)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errCorrupt, err)
		}
		zc, doc, packed = zc2, body[n:], p
	}
	js, err := zc.decompress(doc)
	if err != nil {
		return nil, err
	}
	v := new(T)
	if err := codec.Unmarshal(js, v); err != nil {
		return nil, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	if v2 {
		if err := packed.Restore(v); err != nil {
			return nil, fmt.Errorf("%w: %w", errCorrupt, err)
		}
	}
	return v, nil
}

// apparatusRecord is the value in the apparatus bucket: one unit's
// response and its position in the incident's apparatus array. The body
// of a format-2 record (written now) is the packed statuses followed by
// the compressed JSON of the rest of the apparatus (see DB.encodeApparatus);
// that of a format-1 record (read only) is compressed JSON alone, with the
// format-1 dictionary.
type apparatusRecord struct {
	format byte
	pos    int
	body   []byte
}

func (r apparatusRecord) encode() []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(r.body))
	b = append(b, r.format)
	b = binary.AppendUvarint(b, uint64(r.pos))
	return append(b, r.body...)
}

func decodeApparatusRecord(v []byte) (apparatusRecord, error) {
	if len(v) < 1 || v[0] != formatV1 && v[0] != formatV2 {
		return apparatusRecord{}, errCorrupt
	}
	pos, n := binary.Uvarint(v[1:])
	if n <= 0 {
		return apparatusRecord{}, errCorrupt
	}
	return apparatusRecord{format: v[0], pos: int(pos), body: v[1+n:]}, nil
}

// encodeApparatus returns the body of u's format-2 record.
func (s *DB) encodeApparatus(u *app.Apparatus) ([]byte, error) {
	body, rest := pack.Apparatus(nil, u)
	return encodeBody(body, rest, s.zcApparatus)
}

// decodeApparatus reads an apparatus value of either format and returns
// the unit's position in its incident and the unit.
func (s *DB) decodeApparatus(v []byte) (int, *app.Apparatus, error) {
	rec, err := decodeApparatusRecord(v)
	if err != nil {
		return 0, nil, err
	}
	u, err := decodeBody(s, rec.format, rec.body, s.zcApparatus, pack.ReadApparatus)
	if err != nil {
		return 0, nil, err
	}
	return rec.pos, u, nil
}

// revisionRecord is the value in the revisions bucket. patch is the
// compressed reverse merge patch (see app.Diff); for a deletion it is the
// whole document before the deletion; for a creation it is empty.
type revisionRecord struct {
	action   byte
	received time.Time
	source   string
	patch    []byte
}

const (
	actCreated  = 'c'
	actUpdated  = 'u'
	actReplaced = 'r'
	actDeleted  = 'd'
)

func (r revisionRecord) encode() []byte {
	b := make([]byte, 0, 2+2*binary.MaxVarintLen64+len(r.source)+len(r.patch))
	b = append(b, formatV1, r.action)
	b = binary.AppendVarint(b, r.received.UnixNano())
	b = binary.AppendUvarint(b, uint64(len(r.source)))
	b = append(b, r.source...)
	return append(b, r.patch...)
}

func decodeRevisionRecord(v []byte) (revisionRecord, error) {
	var r revisionRecord
	if len(v) < 2 || v[0] != formatV1 {
		return r, errCorrupt
	}
	r.action = v[1]
	v = v[2:]
	rec, n := binary.Varint(v)
	if n <= 0 {
		return r, errCorrupt
	}
	v = v[n:]
	sl, n := binary.Uvarint(v)
	if n <= 0 || uint64(len(v)-n) < sl {
		return r, errCorrupt
	}
	v = v[n:]
	r.received, r.source, r.patch = time.Unix(0, rec).UTC(), string(v[:sl]), v[sl:]
	return r, nil
}
