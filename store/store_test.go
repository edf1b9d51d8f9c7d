package store_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"cadbox/app"
	"cadbox/app/codec"
	"cadbox/store"
)

// MustOpenDB opens a store in a temporary directory, closed and checked
// for consistency when the test ends.
func MustOpenDB(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(filepath.Join(tb.TempDir(), "cadbox.db"), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Check(); err != nil {
			tb.Errorf("consistency check: %v", err)
		}
		if err := db.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return db
}

const samples = "../../shared/samples/incidents"

// sample reads a real sample, skipping the test when the samples are not
// beside the checkout.
func sample(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(samples, name))
	if os.IsNotExist(err) {
		tb.Skipf("real samples not present (%s)", samples)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func decode(tb testing.TB, b []byte) *app.Incident {
	tb.Helper()
	inc, err := codec.DecodeIncident(b)
	if err != nil {
		tb.Fatal(err)
	}
	return inc
}

// jsonEqual compares two JSON documents ignoring member order.
func jsonEqual(tb testing.TB, a, b []byte) bool {
	tb.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		tb.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

func TestSampleResentEdited(t *testing.T) {
	orig := sample(t, "jkugler__pe-take-home__F01705150050.json")
	edited := sample(t, "mbrinkg8tr__PEProject__F01705150050.edited.json")
	db := MustOpenDB(t)
	ctx := context.Background()
	id := app.IncidentID{Department: "76000", Number: "F01705150050"}

	res, err := db.Upsert(ctx, []*app.Incident{decode(t, orig)}, app.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res[0].Status, app.StatusCreated; got != want {
		t.Fatalf("first send: %s, want %s", got, want)
	}
	res, err = db.Upsert(ctx, []*app.Incident{decode(t, orig)}, app.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res[0].Status, app.StatusUnchanged; got != want {
		t.Fatalf("identical resend: %s, want %s", got, want)
	}
	res, err = db.Upsert(ctx, []*app.Incident{decode(t, edited)}, app.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res[0].Status, app.StatusUpdated; got != want {
		t.Fatalf("edited resend: %s, want %s", got, want)
	}
	got, err := db.Incident(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	gj, _ := codec.Marshal(got.Incident)
	if !jsonEqual(t, gj, edited) {
		t.Fatalf("stored document differs from the edited sample:\n%s", gj)
	}
	revs, err := db.Revisions(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 2 || revs[0].Action != app.ActionCreated || revs[1].Action != app.ActionUpdated {
		t.Fatalf("revisions = %+v, want created then updated", revs)
	}
	first, _, err := db.IncidentAt(ctx, id, 1)
	if err != nil {
		t.Fatal(err)
	}
	fj, _ := codec.Marshal(first)
	if !jsonEqual(t, fj, orig) {
		t.Fatalf("revision 1 differs from the original sample:\n%s", fj)
	}
	page, err := db.Incidents(ctx, app.IncidentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Incidents) != 1 || page.Incidents[0].ID != id {
		t.Fatalf("list = %+v", page)
	}
	ur, err := db.UnitResponses(ctx, app.UnitResponseFilter{UnitID: "E22"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ur.Responses) != 1 || ur.Responses[0].Incident != id || !ur.Responses[0].Opened.Equal(time.Date(2017, 5, 15, 17, 19, 12, 0, time.UTC)) {
		t.Fatalf("unit responses = %+v", ur)
	}
}
