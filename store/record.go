package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/klauspost/compress/s2"
)

// Record formats. Each stored value starts with its format byte so the
// encoding can change without rewriting old data.
const (
	formatV1 = 1 // header fields, then S2-compressed (with records.dict) compact JSON
)

var errCorrupt = errors.New("corrupt record")

// compressor compresses stored JSON with S2 (a Snappy-compatible LZ77)
// and a dictionary trained on incident records (records.dict, embedded).
// Records are small and share most of their member names and values, so
// the dictionary makes each a third of its size, at a few microseconds a
// record; zstd with the same dictionary saves a further ~6% but costs
// about twenty times the CPU per record (measured in store/record.go's
// history: 4 µs vs 78 µs), and compression is on the single commit path.
type compressor struct {
	dict *s2.Dict
}

func newCompressor(dict []byte) (*compressor, error) {
	d := s2.NewDict(dict)
	if d == nil {
		return nil, errors.New("records.dict is not a valid S2 dictionary")
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

func (c *compressor) close() {}

// incidentRecord is the value in the incidents bucket: the incident without
// its apparatus (they live in the apparatus bucket), with version metadata.
type incidentRecord struct {
	rev      uint64
	modified time.Time
	doc      []byte // compressed JSON
}

func (r incidentRecord) encode() []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(r.doc))
	b = append(b, formatV1)
	b = binary.AppendUvarint(b, r.rev)
	b = binary.AppendVarint(b, r.modified.UnixNano())
	return append(b, r.doc...)
}

func decodeIncidentRecord(v []byte) (incidentRecord, error) {
	var r incidentRecord
	if len(v) < 1 || v[0] != formatV1 {
		return r, errCorrupt
	}
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
	r.rev, r.modified, r.doc = rev, time.Unix(0, mod).UTC(), v[n:]
	return r, nil
}

// apparatusRecord is the value in the apparatus bucket: one unit's
// response and its position in the incident's apparatus array.
type apparatusRecord struct {
	pos int
	doc []byte // compressed JSON
}

func (r apparatusRecord) encode() []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(r.doc))
	b = append(b, formatV1)
	b = binary.AppendUvarint(b, uint64(r.pos))
	return append(b, r.doc...)
}

func decodeApparatusRecord(v []byte) (apparatusRecord, error) {
	if len(v) < 1 || v[0] != formatV1 {
		return apparatusRecord{}, errCorrupt
	}
	pos, n := binary.Uvarint(v[1:])
	if n <= 0 {
		return apparatusRecord{}, errCorrupt
	}
	return apparatusRecord{pos: int(pos), doc: v[1+n:]}, nil
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
