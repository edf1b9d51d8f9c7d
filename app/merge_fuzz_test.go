package app_test

import (
	"bytes"
	"os"
	"testing"

	"cadbox/app"
	"cadbox/app/codec"
	"cadbox/app/fixture"
)

// mustMarshal writes an incident as the store does.
func mustMarshal(t testing.TB, inc *app.Incident) []byte {
	t.Helper()
	b, err := codec.Marshal(inc)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

// mergeStored merges update into stored the way the store does: both are
// read back from their stored JSON into fresh structs, merged, and the
// result written as JSON.
func mergeStored(t testing.TB, stored, update []byte) []byte {
	t.Helper()
	var dst, src app.Incident
	if err := codec.Unmarshal(stored, &dst); err != nil {
		t.Fatalf("stored form does not read back: %v", err)
	}
	if err := codec.Unmarshal(update, &src); err != nil {
		t.Fatalf("update does not read back: %v", err)
	}
	app.Merge(&dst, &src)
	return mustMarshal(t, &dst)
}

// reverse returns the revision patch that turns next back into prev, as
// the store writes it.
func reverse(t testing.TB, next, prev []byte) []byte {
	t.Helper()
	nt, err := app.PatchTree(next)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := app.PatchTree(prev)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := app.PatchJSON(app.Diff(nt, pt))
	if err != nil {
		t.Fatal(err)
	}
	return patch
}

// applyStored applies a stored patch to a document the way the store
// reads a revision back, and returns the document's stored form.
func applyStored(t testing.TB, doc, patch []byte) []byte {
	t.Helper()
	state, err := app.PatchTree(doc)
	if err != nil {
		t.Fatal(err)
	}
	p, err := app.PatchTree(patch)
	if err != nil {
		t.Fatalf("stored patch %s does not read back: %v", patch, err)
	}
	js, err := app.TreeJSON(app.ApplyPatch(state, p))
	if err != nil {
		t.Fatal(err)
	}
	var inc app.Incident
	if err := codec.Unmarshal(js, &inc); err != nil {
		t.Fatalf("patched document %s does not read back: %v", js, err)
	}
	return mustMarshal(t, &inc)
}

// FuzzMergeReversePatch takes two documents a and b that the decoder
// accepts and follows the store's upsert of b onto a stored a. It
// checks that the merge of two valid incidents is valid and a fixed point
// of the codec, that merging is idempotent (resending b, or a onto itself,
// changes nothing), and that the reverse patch the store keeps turns the
// merged document back into a, byte for byte, while the forward patch
// turns a into the merged document.
func FuzzMergeReversePatch(f *testing.F) {
	g := fixture.New(11)
	for i := range 4 {
		inc := g.Incident(i)
		base := g.JSON(i)
		for step := range fixture.Steps {
			f.Add(base, mustMarshal(f, g.Update(inc, step)))
		}
	}
	if ex, err := os.ReadFile("api/testdata/example_incident.json"); err == nil {
		f.Add(ex, []byte(`{"fire_department":{"fd_id":"76000"},"description":{"incident_number":"F01705150050","event_opened":"2017-05-15T13:19:12-04:00","comments":null,"x_cad":{"b":{"c":1}}},
			"apparatus":[{"unit_id":"H3","unit_status":{"~":{"latitude":37.5},"cleared":null}},{"unit_id":"E99","personnel":[{"id":1}]}]}`))
	} else {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		ia, err := codec.DecodeIncident(a)
		if err != nil {
			return
		}
		ib, err := codec.DecodeIncident(b)
		if err != nil {
			return
		}
		aJSON, bJSON := mustMarshal(t, ia), mustMarshal(t, ib)

		if got := mergeStored(t, aJSON, aJSON); !bytes.Equal(got, aJSON) {
			t.Fatalf("merging a document onto itself changed it:\n%s\n%s", aJSON, got)
		}
		merged := mergeStored(t, aJSON, bJSON)
		m, err := codec.DecodeIncident(merged)
		if err != nil {
			t.Fatalf("the merge of two valid incidents is not valid: %v\n%s", err, merged)
		}
		if again := mustMarshal(t, m); !bytes.Equal(again, merged) {
			t.Fatalf("the merged document is not a fixed point of the codec:\n%s\n%s", merged, again)
		}
		if again := mergeStored(t, merged, bJSON); !bytes.Equal(again, merged) {
			t.Fatalf("resending the update changed the merged document:\n%s\n%s", merged, again)
		}

		if back := applyStored(t, merged, reverse(t, merged, aJSON)); !bytes.Equal(back, aJSON) {
			t.Fatalf("the reverse patch does not restore the stored document:\nwant %s\ngot  %s", aJSON, back)
		}
		if fwd := applyStored(t, aJSON, reverse(t, aJSON, merged)); !bytes.Equal(fwd, merged) {
			t.Fatalf("the forward patch does not give the merged document:\nwant %s\ngot  %s", merged, fwd)
		}
	})
}
