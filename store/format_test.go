package store_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"cadbox/app"
	"cadbox/app/codec"
	"cadbox/app/fixture"
	"cadbox/store"

	bolt "go.etcd.io/bbolt"
)

// Tests of the stored record formats: whatever is written reads back as
// the same JSON, byte for byte, through every read path.

// mustMarshal is codec.Marshal that fails the test on error.
func mustMarshal(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := codec.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// checkReadBack requires the stored incident, and each of its units as
// the unit listing returns it, to marshal to the bytes of want.
func checkReadBack(tb testing.TB, db *store.DB, want *app.Incident, units bool) {
	tb.Helper()
	ctx := context.Background()
	id := want.ID()
	got, err := db.Incident(ctx, id)
	if err != nil {
		tb.Fatalf("%s: %v", id, err)
	}
	if g, w := mustMarshal(tb, got.Incident), mustMarshal(tb, want); !bytes.Equal(g, w) {
		tb.Fatalf("%s reads back differently:\n got %s\nwant %s", id, g, w)
	}
	if !units {
		return
	}
	opened := want.Opened()
	for _, u := range want.Apparatus {
		page, err := db.UnitResponses(ctx, app.UnitResponseFilter{UnitID: app.Val(u.UnitID), From: opened, To: opened.Add(time.Nanosecond), Limit: store.MaxLimit})
		if err != nil {
			tb.Fatal(err)
		}
		found := false
		for _, r := range page.Responses {
			if r.Incident != id {
				continue
			}
			found = true
			if g, w := mustMarshal(tb, r.Apparatus), mustMarshal(tb, u); !bytes.Equal(g, w) {
				tb.Fatalf("%s unit %s lists differently:\n got %s\nwant %s", id, app.Val(u.UnitID), g, w)
			}
		}
		if !found {
			tb.Fatalf("%s unit %s not listed", id, app.Val(u.UnitID))
		}
	}
}

func openNoSync(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(filepath.Join(tb.TempDir(), "cadbox.db"), store.Options{NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Check(); err != nil {
			tb.Errorf("consistency check: %v", err)
		}
		db.Close()
	})
	return db
}

// TestRoundTripGenerated stores generated incidents and every later
// version of each (replaced whole, so the stored document is the one
// sent), and reads each back: the incident, its units through the unit
// listing (every tenth incident), and every revision.
func TestRoundTripGenerated(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 60
	}
	db := openNoSync(t)
	ctx := context.Background()
	g := fixture.New(11)
	docs := make([]*app.Incident, n)
	for i := range docs {
		docs[i] = g.Incident(i)
	}
	if _, err := db.Upsert(ctx, docs, app.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	for i, inc := range docs {
		checkReadBack(t, db, inc, i%10 == 0)
	}
	for i, inc := range docs {
		versions := []*app.Incident{inc}
		for step := range fixture.Steps {
			v := g.Update(inc, step)
			if _, err := db.Replace(ctx, v, app.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			checkReadBack(t, db, v, i%10 == 0)
			versions = append(versions, v)
		}
		if i%10 != 0 {
			continue
		}
		revs, err := db.Revisions(ctx, inc.ID())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range revs {
			at, _, err := db.IncidentAt(ctx, inc.ID(), r.Number)
			if err != nil {
				t.Fatal(err)
			}
			// Unchanged versions add no revision, so a revision is the
			// first version it equals.
			aj := mustMarshal(t, at)
			match := false
			for _, v := range versions {
				match = match || bytes.Equal(aj, mustMarshal(t, v))
			}
			if !match {
				t.Fatalf("%s revision %d is none of the versions sent: %s", inc.ID(), r.Number, aj)
			}
		}
	}
}

// TestRoundTripSamples stores each real sample and reads it back.
func TestRoundTripSamples(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(samples, "*.json"))
	if len(files) == 0 {
		t.Skipf("real samples not present (%s)", samples)
	}
	db := MustOpenDB(t)
	ctx := context.Background()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inc, err := codec.DecodeIncident(b)
		if err != nil {
			t.Logf("%s: not a valid incident, skipped: %v", filepath.Base(f), err)
			continue
		}
		// Samples share incident numbers (an edited resend): replace.
		if _, err := db.Replace(ctx, inc, app.WriteOptions{}); err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
		checkReadBack(t, db, inc, true)
		res, err := db.Upsert(ctx, []*app.Incident{decode(t, b)}, app.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Status != app.StatusUnchanged {
			t.Fatalf("%s: resending the stored document: %s, want unchanged", filepath.Base(f), res[0].Status)
		}
	}
}

// edgeIncident has every kind of value that packs only in part, or not
// at all.
const edgeIncident = `{
 "address": {"latitude": 37.1234567, "longitude": -77.5, "geohash": "dq8", "city": "X"},
 "description": {"incident_number": "EDGE", "event_opened": "2017-05-15T13:19:12.250-04:00",
  "event_closed": "2017-05-15T17:19:12+00:00", "first_unit_dispatched": "2017-05-15T17:20:00Z",
  "first_unit_enroute": "2017-05-15T13:21:00-04:00", "first_unit_arrived": "2017-05-15T22:51:00+05:30"},
 "fire_department": {"fd_id": "99999", "timezone": "US/Eastern"},
 "apparatus": [
  {"unit_id": "X1", "geohash": "zzz", "unit_status": {
   "dispatched": {"timestamp": "2017-05-15T13:20:00-04:00", "latitude": 37.5, "longitude": -77.25, "geohash": "dq8v"},
   "weird key": {"timestamp": "2017-05-15T13:21:00.5-04:00"},
   "arrived": {"timestamp": "2017-05-15T17:30:00+00:00", "latitude": 37.12345678, "longitude": -77.1, "geohash": "nothash"},
   "~": {"latitude": 0, "longitude": -0.000001, "order": 3, "note": "x"},
   "enroute": {"timestamp": "2017-05-15T13:22:00-04:00", "latitude": 37.5, "longitude": -77.25, "geohash": "dq8vzzzzzzzz"},
   "cleared": {"timestamp": "2017-05-15T08:22:00-09:30", "order": 1},
   "available": {"latitude": 90, "longitude": 180, "geohash": "upbpbpbpbpbp"},
   "at_hospital": {"timestamp": "2017-05-15T17:40:00Z", "latitude": -0, "longitude": 1},
   "transport": {}}},
  {"unit_id": "X2", "unit_status": {}},
  {"unit_id": "X3"},
  {"unit_id": "X4", "geohash": "dq8vtnb49tc1", "personnel": [{"name": "A"}], "extra_member": [1, 2.50, null],
   "unit_status": {"dispatched": {"timestamp": "2017-05-15T13:20:00-04:00", "latitude": 37.566836, "longitude": -77.47552, "geohash": "dq8vtnb49tc1"}}}
 ]}`

func TestRoundTripEdgeCases(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	inc := decode(t, []byte(edgeIncident))
	if _, err := db.Upsert(ctx, []*app.Incident{inc}, app.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	checkReadBack(t, db, inc, true)
	res, err := db.Upsert(ctx, []*app.Incident{decode(t, []byte(edgeIncident))}, app.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != app.StatusUnchanged {
		t.Fatalf("resending the stored document: %s, want unchanged", res[0].Status)
	}
}

// TestFormat1Records reads a store written by cadbox before format 2
// (testdata/format1.db.gz, with what that version read back from it in
// testdata/format1.golden.json.gz), then writes over it.
func TestFormat1Records(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cadbox.db")
	if err := os.WriteFile(path, gunzip(t, "testdata/format1.db.gz"), 0o600); err != nil {
		t.Fatal(err)
	}
	var golden []struct {
		ID        app.IncidentID `json:"id"`
		Revisions []string       `json:"revisions"`
	}
	if err := json.Unmarshal(gunzip(t, "testdata/format1.golden.json.gz"), &golden); err != nil {
		t.Fatal(err)
	}
	if len(golden) == 0 {
		t.Fatal("no golden incidents")
	}
	// The file must hold format-1 records, or this test proves nothing.
	if got := recordFormats(t, path); got["incidents"] != "1" || got["apparatus"] != "1" || got["schema"] != "1" {
		t.Fatalf("testdata store: %v, want format-1 incidents and apparatus, schema 1", got)
	}

	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, gi := range golden {
		for i, want := range gi.Revisions {
			at, _, err := db.IncidentAt(ctx, gi.ID, uint64(i+1))
			if err != nil {
				t.Fatal(err)
			}
			if got := mustMarshal(t, at); string(got) != want {
				t.Fatalf("%s revision %d:\n got %s\nwant %s", gi.ID, i+1, got, want)
			}
		}
		want := decode(t, []byte(gi.Revisions[len(gi.Revisions)-1]))
		checkReadBack(t, db, want, true)
		// Resent, the document read from format-1 records is the same.
		res, err := db.Upsert(ctx, []*app.Incident{want}, app.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Status != app.StatusUnchanged {
			t.Fatalf("%s resent: %s, want unchanged", gi.ID, res[0].Status)
		}
	}

	// Writing over format-1 records: merged, replaced, deleted.
	first := decode(t, []byte(golden[0].Revisions[len(golden[0].Revisions)-1]))
	next := fixture.New(1234).Update(first, fixture.Steps-1)
	if _, err := db.Replace(ctx, next, app.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	checkReadBack(t, db, next, true)
	for i, want := range golden[0].Revisions {
		at, _, err := db.IncidentAt(ctx, golden[0].ID, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if got := mustMarshal(t, at); string(got) != want {
			t.Fatalf("%s revision %d after a new version:\n got %s\nwant %s", golden[0].ID, i+1, got, want)
		}
	}
	merged := decode(t, []byte(golden[1].Revisions[0]))
	merged.Description.Comments = app.Ptr("merged over a format-1 record")
	partial := &app.Incident{FireDepartment: &app.FireDepartment{FDID: &golden[1].ID.Department},
		Description: &app.Description{IncidentNumber: &golden[1].ID.Number, EventOpened: merged.Description.EventOpened, Comments: merged.Description.Comments}}
	if _, err := db.Upsert(ctx, []*app.Incident{partial}, app.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	checkReadBack(t, db, merged, true)
	if _, err := db.Delete(ctx, golden[2].ID, app.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if got := recordFormats(t, path); got["schema"] != "2" || got["incidents"] != "1,2" || got["apparatus"] != "1,2" {
		t.Fatalf("after writes: %v, want both formats and schema 2", got)
	}
}

func gunzip(tb testing.TB, name string) []byte {
	tb.Helper()
	f, err := os.Open(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// recordFormats reads a closed store's schema version and the record
// formats (first bytes) found in its incidents and apparatus buckets.
func recordFormats(tb testing.TB, path string) map[string]string {
	tb.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer bdb.Close()
	out := map[string]string{}
	err = bdb.View(func(tx *bolt.Tx) error {
		out["schema"] = string(tx.Bucket([]byte("meta")).Get([]byte("schema")))
		for _, name := range []string{"incidents", "apparatus"} {
			seen := [256]bool{}
			tx.Bucket([]byte(name)).ForEach(func(_, v []byte) error {
				seen[v[0]] = true
				return nil
			})
			var formats []byte
			for f, ok := range seen {
				if ok {
					if len(formats) > 0 {
						formats = append(formats, ',')
					}
					formats = append(formats, byte('0'+f))
				}
			}
			out[name] = string(formats)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
