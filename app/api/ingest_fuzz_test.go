package api

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"cadbox/app"
	"cadbox/app/fixture"

	"github.com/klauspost/compress/gzip"
)

// collect runs a reader and returns what it emitted and returned.
func collect(read func(emit func(record) error) error) ([]record, error) {
	var out []record
	err := read(func(r record) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// checkRecordError asserts a record's error is one a bulk report can
// describe to the client.
func checkRecordError(t *testing.T, r record) {
	t.Helper()
	switch code := app.ErrorCode(r.err); code {
	case app.EMALFORMED, app.EINVALID, app.ETOOLARGE:
	default:
		t.Fatalf("record %d: code %s (%v), want malformed, invalid or too_large", r.index, code, r.err)
	}
	if r.data != nil {
		t.Fatalf("record %d has both data and an error", r.index)
	}
}

// fuzzLimit turns a fuzzed number into a small document limit, so the
// fuzzer reaches the limit easily.
func fuzzLimit(n uint16) int64 { return int64(n%512) + 1 }

// addBulkSeeds adds NDJSON and array bodies shaped like real uploads.
func addBulkSeeds(f *testing.F, wrap func(docs [][]byte) []byte) {
	f.Helper()
	g := fixture.New(3)
	ex, err := os.ReadFile("testdata/example_incident.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(wrap([][]byte{g.JSON(0), g.JSON(1)}), uint16(511))
	f.Add(wrap([][]byte{ex}), uint16(200))
	f.Add(wrap([][]byte{[]byte(`{"a":1}`), []byte(`  `), []byte(`{"a":"\u00e9\r"}`), []byte(`[1,{"b":null}]`)}), uint16(7))
}

// FuzzReadNDJSON checks the NDJSON reader against a plain line split:
// every line with content is one record, in order, numbered by line;
// its data is the line without its line ending, never longer than the
// limit; a longer line is one too-large record, and blank lines are
// skipped.
func FuzzReadNDJSON(f *testing.F) {
	addBulkSeeds(f, func(docs [][]byte) []byte { return bytes.Join(docs, []byte("\n")) })
	f.Add([]byte("{}\r\n\r\n\n  \t\n{\"x\":1}\r\r\nlast-without-newline"), uint16(3))
	f.Fuzz(func(t *testing.T, data []byte, n uint16) {
		limit := fuzzLimit(n)
		recs, err := collect(func(emit func(record) error) error {
			return readNDJSON(bytes.NewReader(data), "f.ndjson", limit, emit)
		})
		if err != nil {
			t.Fatalf("reading from memory failed: %v", err)
		}
		lines := bytes.Split(data, []byte("\n"))
		byLine := map[int]record{}
		for i, r := range recs {
			if r.index != i {
				t.Fatalf("record %d has index %d", i, r.index)
			}
			if i > 0 && r.line <= recs[i-1].line {
				t.Fatalf("line numbers out of order: %d after %d", r.line, recs[i-1].line)
			}
			if r.line < 1 || r.line > len(lines) || r.file != "f.ndjson" {
				t.Fatalf("record %d: line %d of %d, file %q", i, r.line, len(lines), r.file)
			}
			byLine[r.line] = r
		}
		for i, raw := range lines {
			content := bytes.TrimRight(raw, "\r")
			r, emitted := byLine[i+1]
			switch {
			case int64(len(content)) > limit:
				if !emitted || app.ErrorCode(r.err) != app.ETOOLARGE {
					t.Fatalf("line %d (%d bytes, limit %d) not reported as too large: %+v", i+1, len(content), limit, r)
				}
			case int64(len(raw)) > limit+1 && emitted && r.err != nil:
				// Only line-ending bytes past the limit: either way.
				checkRecordError(t, r)
			case len(bytes.TrimSpace(content)) == 0:
				if emitted {
					t.Fatalf("blank line %d emitted: %+v", i+1, r)
				}
			default:
				if !emitted || r.err != nil || !bytes.Equal(r.data, content) {
					t.Fatalf("line %d %q: got %+v", i+1, content, r)
				}
			}
		}
		for _, r := range recs {
			if r.err == nil && int64(len(r.data)) > limit {
				t.Fatalf("record %d of %d bytes passed the limit %d", r.index, len(r.data), limit)
			}
		}
	})
}

// FuzzReadArray checks the JSON array reader against encoding/json: a
// body that is a valid array gives its elements, in order, byte for
// byte; a body that is not one (trailing data included) gives a failed
// record, never a silent success. Every record is either valid JSON
// within the limit or a client error; only a too-large element may be
// followed by more records.
func FuzzReadArray(f *testing.F) {
	addBulkSeeds(f, func(docs [][]byte) []byte {
		return append(append([]byte("[\n"), bytes.Join(docs, []byte(",\n"))...), ']')
	})
	for _, s := range []string{`[]`, ` [ ] `, `[1,"a",null,{}]`, `[{"a":1}] [{"b":2}]`, `[{}]{}`, `[{"a":1},`, `[` + strings.Repeat(`[`, 10001), `[{"a":1,"a":2}]`, "[\"\xff\"]", `[1e400, -0, 1E+2]`} {
		f.Add([]byte(s), uint16(40))
	}
	f.Fuzz(func(t *testing.T, data []byte, n uint16) {
		if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '[' {
			return // the callers only hand over bodies that start an array
		}
		limit := fuzzLimit(n)
		recs, err := collect(func(emit func(record) error) error {
			return readArray(bytes.NewReader(data), "", limit, emit)
		})
		if err != nil {
			t.Fatalf("reading from memory failed: %v", err)
		}
		failed := false
		for i, r := range recs {
			if r.err != nil {
				checkRecordError(t, r)
				failed = true
				if app.ErrorCode(r.err) != app.ETOOLARGE && i != len(recs)-1 {
					t.Fatalf("record %d after a syntax error: %v", i+1, r.err)
				}
				continue
			}
			if r.index != i {
				t.Fatalf("record %d has index %d", i, r.index)
			}
			if int64(len(r.data)) > limit || !json.Valid(r.data) {
				t.Fatalf("record %d: %d bytes (limit %d), valid %v", i, len(r.data), limit, json.Valid(r.data))
			}
		}
		var elems []json.RawMessage
		stdErr := json.Unmarshal(data, &elems)
		if !failed {
			if stdErr != nil {
				t.Fatalf("accepted a body encoding/json rejects (%v): %q", stdErr, data)
			}
			if len(elems) != len(recs) {
				t.Fatalf("%d records for %d elements", len(recs), len(elems))
			}
			for i := range elems {
				if !sameJSON(t, elems[i], recs[i].data) {
					t.Fatalf("element %d: %s, record %s", i, elems[i], recs[i].data)
				}
			}
			return
		}
		if stdErr == nil && utf8.Valid(data) {
			for _, r := range recs {
				if app.ErrorCode(r.err) == app.EMALFORMED {
					t.Fatalf("a valid array reported as malformed: %v: %q", r.err, data)
				}
			}
		}
	})
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	if da.Decode(&x) != nil || db.Decode(&y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// FuzzReadFileGzip checks that a multipart file reads the same whether or
// not it is gzip-compressed, for both file kinds (the top bit of n picks
// one), and that a file of another kind is refused as unsupported.
func FuzzReadFileGzip(f *testing.F) {
	addBulkSeeds(f, func(docs [][]byte) []byte { return bytes.Join(docs, []byte("\n")) })
	f.Add([]byte(`[{"a":1},{"b":2}]`), uint16(0x8000|100))
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestSpeed) // reused: a new writer costs more than the readers
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, n uint16) {
		limit := fuzzLimit(n)
		gz.Reset()
		zw.Reset(&gz)
		if _, err := zw.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		name := "x.ndjson"
		if n&0x8000 != 0 {
			name = "dir/X.JSON"
		}
		plain, perr := collect(func(emit func(record) error) error {
			return readFile(bytes.NewReader(data), name, limit, emit)
		})
		zipped, zerr := collect(func(emit func(record) error) error {
			return readFile(bytes.NewReader(gz.Bytes()), name+".gz", limit, emit)
		})
		if app.ErrorCode(perr) != app.ErrorCode(zerr) || len(plain) != len(zipped) {
			t.Fatalf("%s: plain %d records (%v), gzip %d records (%v)", name, len(plain), perr, len(zipped), zerr)
		}
		if perr != nil && app.ErrorCode(perr) == app.EINTERNAL {
			t.Fatalf("%s: internal error %v", name, perr)
		}
		for i := range plain {
			p, z := plain[i], zipped[i]
			if p.index != z.index || p.line != z.line || !bytes.Equal(p.data, z.data) ||
				app.ErrorCode(p.err) != app.ErrorCode(z.err) || z.file != p.file+".gz" {
				t.Fatalf("%s: record %d differs: %+v / %+v", name, i, p, z)
			}
		}
		if _, err := collect(func(emit func(record) error) error {
			return readFile(bytes.NewReader(data), "x.csv", limit, emit)
		}); app.ErrorCode(err) != app.EUNSUPPORTED {
			t.Fatalf("x.csv: %v, want unsupported", err)
		}
	})
}
