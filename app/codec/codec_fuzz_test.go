package codec_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"cadbox/app"
	"cadbox/app/codec"
	"cadbox/app/fixture"
)

// addDocumentSeeds adds the committed example, a few generated incidents
// (both document generations) and, when present, the real samples. The
// quirks (the "~" status key, nulls, unknown members, odd numbers) are in
// testdata/fuzz/FuzzDecodeIncident.
func addDocumentSeeds(f *testing.F) {
	f.Helper()
	names := []string{"../api/testdata/example_incident.json"}
	samples, _ := filepath.Glob("../../../shared/samples/incidents/*.json")
	for _, name := range append(names, samples...) {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	g := fixture.New(7)
	for i := range 6 {
		f.Add(g.JSON(i))
	}
}

// FuzzDecodeIncident checks the decoder's contract on any input: it
// returns an incident or a client error (malformed or invalid, with a
// pointer for an invalid one), never an internal error; an accepted
// incident is valid, and its stored form is a fixed point (decoding and
// writing it again gives the same bytes), so an identical resend is
// always "unchanged".
func FuzzDecodeIncident(f *testing.F) {
	addDocumentSeeds(f)
	dec := codec.NewDecoder()
	f.Fuzz(func(t *testing.T, data []byte) {
		inc, err := codec.DecodeIncident(data)
		inc2, err2 := dec.Decode(data)
		if (err == nil) != (err2 == nil) || app.ErrorCode(err) != app.ErrorCode(err2) {
			t.Fatalf("DecodeIncident and Decoder.Decode disagree: %v / %v", err, err2)
		}
		if err == nil && !bytes.Equal(mustMarshal(t, inc), mustMarshal(t, inc2)) {
			t.Fatalf("DecodeIncident and Decoder.Decode decode differently")
		}
		if err != nil {
			checkClientError(t, err)
			if inc != nil {
				t.Fatalf("an incident and an error: %v", err)
			}
			return
		}
		if err := inc.Validate(); err != nil {
			t.Fatalf("accepted an invalid incident: %v", err)
		}
		id := inc.ID()
		if !app.ValidID(id.Department) || !app.ValidID(id.Number) {
			t.Fatalf("accepted bad ids %q", id)
		}
		out, err := codec.Marshal(inc)
		if err != nil {
			t.Fatalf("marshal an accepted incident: %v", err)
		}
		if !json.Valid(out) || !utf8.Valid(out) {
			t.Fatalf("stored form is not valid JSON: %q", out)
		}
		again, err := codec.DecodeIncident(out)
		if err != nil {
			t.Fatalf("stored form %s does not decode: %v", out, err)
		}
		out2, err := codec.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("stored form is not a fixed point:\n%s\n%s", out, out2)
		}
		if again.ID() != id {
			t.Fatalf("id changed in the round trip: %v -> %v", id, again.ID())
		}
		// Stored documents hold no null member where merge patches
		// reach (objects, and apparatus by unit_id), so a null in a
		// reverse patch always means "remove".
		tree, err := app.PatchTree(out)
		if err != nil {
			t.Fatalf("patch tree of the stored form: %v", err)
		}
		if p, ok := findNullMember(tree, ""); ok {
			t.Fatalf("stored form keeps a null member at %s: %s", p, out)
		}
	})
}

func mustMarshal(t *testing.T, inc *app.Incident) []byte {
	t.Helper()
	b, err := codec.Marshal(inc)
	if err != nil {
		t.Fatalf("marshal an accepted incident: %v", err)
	}
	return b
}

// checkClientError asserts err is a client error a problem can describe.
func checkClientError(t *testing.T, err error) {
	t.Helper()
	switch code := app.ErrorCode(err); code {
	case app.EMALFORMED:
	case app.EINVALID:
		fields := app.ErrorFields(err)
		if len(fields) == 0 {
			t.Fatalf("invalid without a pointer: %v", err)
		}
		for _, fe := range fields {
			if fe.Pointer != "" && !strings.HasPrefix(fe.Pointer, "/") {
				t.Fatalf("pointer %q is not a JSON pointer: %v", fe.Pointer, err)
			}
			if fe.Message == "" {
				t.Fatalf("field error without a message: %v", err)
			}
		}
	default:
		t.Fatalf("code %s for bad input, want malformed or invalid: %v", code, err)
	}
	if msg := app.ErrorMessage(err); msg == "" || msg == "Internal error." {
		t.Fatalf("no client message: %v", err)
	}
}

// findNullMember returns the pointer of the first object member whose
// value is null, looking through objects only (merge patches replace
// arrays whole, so nulls inside arrays are plain data).
func findNullMember(v any, at string) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", false
	}
	for k, e := range m {
		p := at + "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(k)
		if e == nil {
			return p, true
		}
		if p, ok := findNullMember(e, p); ok {
			return p, true
		}
	}
	return "", false
}
