package search_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"cadbox/app"
	"cadbox/app/codec"
	"cadbox/search"
	"cadbox/store"
)

type env struct {
	db  *store.DB
	ix  *search.Index
	svc *app.Service
	dir string
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	dir := tb.TempDir()
	db, err := store.Open(filepath.Join(dir, "cadbox.db"), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	ix, err := search.Open(context.Background(), filepath.Join(dir, "index", "incidents.bleve"), db, search.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ix.Close()
		db.Close()
	})
	return &env{db: db, ix: ix, svc: app.NewService(db, ix), dir: dir}
}

func (e *env) put(tb testing.TB, docs ...*app.Incident) {
	tb.Helper()
	if _, err := e.svc.Upsert(context.Background(), docs, app.WriteOptions{}); err != nil {
		tb.Fatal(err)
	}
}

func (e *env) ids(tb testing.TB, req app.SearchRequest) []string {
	tb.Helper()
	res, err := e.ix.Search(context.Background(), req)
	if err != nil {
		tb.Fatalf("%+v: %v", req, err)
	}
	var out []string
	for _, h := range res.Hits {
		out = append(out, h.ID.Number)
	}
	sort.Strings(out)
	return out
}

func mk(fd, num, opened, typ, comments string, lat, lon float64, units ...string) *app.Incident {
	t, _ := app.ParseTime(opened)
	inc := &app.Incident{
		FireDepartment: &app.FireDepartment{FDID: app.Ptr(fd), Timezone: app.Ptr("US/Eastern")},
		Description:    &app.Description{IncidentNumber: app.Ptr(num), EventOpened: t, Type: app.Ptr(typ), Comments: app.Ptr(comments)},
		Address:        &app.Address{Latitude: app.Ptr(lat), Longitude: app.Ptr(lon), AddressLine1: app.Ptr("1 MAIN ST")},
	}
	for _, u := range units {
		inc.Apparatus = append(inc.Apparatus, &app.Apparatus{UnitID: app.Ptr(u), Station: app.Ptr("FSTA" + u[1:])})
	}
	return inc
}

func fixtures() []*app.Incident {
	return []*app.Incident{
		mk("1", "A1", "2020-01-01T10:00:00-05:00", "EMS", "PT FELL DOWN STAIRS CONSCIOUS AND BREATHING", 37.54, -77.44, "M1", "E22"),
		mk("1", "A2", "2020-01-02T11:00:00-05:00", "FIRE", "SMOKE SHOWING FROM 2ND FLOOR. T22/H2/H3 OS", 37.50, -77.40, "E22", "T22"),
		mk("1", "A3", "2020-02-01T12:00:00-05:00", "HAZMAT", "Case number C201713827 has been assigned. OLD BOX OF CHEMICALS", 37.60, -77.50, "H3"),
		mk("2", "B1", "2020-03-01T13:00:00-05:00", "EMS", "CHEST PAIN", 37.77, -122.43, "M9"),
	}
}

func TestQueries(t *testing.T) {
	e := newEnv(t)
	e.put(t, fixtures()...)
	from, _ := time.Parse(time.RFC3339, "2020-01-02T00:00:00Z")
	cases := []struct {
		name string
		req  app.SearchRequest
		want string
	}{
		{"Phrase", app.SearchRequest{Query: `"OLD BOX OF CHEMICALS"`}, "A3"},
		{"CaseNumber", app.SearchRequest{Query: "C201713827"}, "A3"},
		{"LowerCase", app.SearchRequest{Query: "smoke"}, "A2"},
		{"UnitField", app.SearchRequest{Query: "unit_id:H3"}, "A3"},
		{"UnitInText", app.SearchRequest{Query: "h2"}, "A2"},
		{"BareUnitID", app.SearchRequest{Query: "E22"}, "A1 A2"},
		{"Must", app.SearchRequest{Query: "+unit_id:E22 -type:FIRE"}, "A1"},
		{"Wildcard", app.SearchRequest{Query: "CHEM*"}, "A3"},
		{"TypeFilter", app.SearchRequest{Type: "EMS"}, "A1 B1"},
		{"Department", app.SearchRequest{Department: "2"}, "B1"},
		{"DateRange", app.SearchRequest{From: from}, "A2 A3 B1"},
		{"DateInQuery", app.SearchRequest{Query: `event_opened:>="2020-02-01T00:00:00Z"`}, "A3 B1"},
		{"Numeric", app.SearchRequest{Query: "units:>=2"}, "A1 A2"},
		{"BBoxRichmond", app.SearchRequest{BBox: &app.BBox{MinLon: -77.6, MinLat: 37.3, MaxLon: -77.3, MaxLat: 37.7}}, "A1 A2 A3"},
		{"Near", app.SearchRequest{Near: &app.Near{Lat: 37.54, Lon: -77.44, RadiusMeters: 2000}}, "A1"},
		{"Station", app.SearchRequest{Station: "FSTA22"}, "A1 A2"},
		{"Nothing", app.SearchRequest{Query: "zebra"}, ""},
		// Terms without a field search every text field.
		{"AddressPhrase", app.SearchRequest{Query: `"1 MAIN ST" +type:HAZMAT`}, "A3"},
		{"NumberAsText", app.SearchRequest{Query: "a2"}, "A2"},
		{"TypeAsText", app.SearchRequest{Query: "hazmat"}, "A3"},
		{"AllButExcluded", app.SearchRequest{Query: "main -smoke"}, "A1 A3 B1"},
		{"FuzzyNoField", app.SearchRequest{Query: "CHEMICLS~1"}, "A3"},
		{"RegexpNoField", app.SearchRequest{Query: "/chemi.*/"}, "A3"},
		{"PhraseWrongOrder", app.SearchRequest{Query: `"CHEMICALS OF BOX"`}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(e.ids(t, tc.req), " "); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("SyntaxError", func(t *testing.T) {
		_, err := e.ix.Search(context.Background(), app.SearchRequest{Query: `"unterminated`})
		if app.ErrorCode(err) != app.EINVALID {
			t.Fatalf("err = %v, want EINVALID", err)
		}
	})
	t.Run("Facets", func(t *testing.T) {
		res, err := e.ix.Search(context.Background(), app.SearchRequest{Facets: []string{"type", "weekday", "hour"}})
		if err != nil {
			t.Fatal(err)
		}
		counts := map[string]int{}
		for _, f := range res.Facets["type"] {
			counts[f.Value] = f.Count
		}
		if counts["EMS"] != 2 || counts["FIRE"] != 1 || counts["HAZMAT"] != 1 {
			t.Fatalf("type facet %v", res.Facets["type"])
		}
		// 2020-01-01T10:00-05:00 is a Wednesday at 10 in US/Eastern.
		found := false
		for _, f := range res.Facets["hour"] {
			found = found || (f.Value == "10" && f.Count == 1)
		}
		if !found {
			t.Fatalf("hour facet (department time zone) %v", res.Facets["hour"])
		}
	})
	t.Run("Paging", func(t *testing.T) {
		var all []string
		req := app.SearchRequest{Sort: "-event_opened", Limit: 1}
		for range 10 {
			res, err := e.ix.Search(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range res.Hits {
				all = append(all, h.ID.Number)
			}
			if res.Next == "" {
				break
			}
			req.Cursor = res.Next
		}
		if got := strings.Join(all, " "); got != "B1 A3 A2 A1" {
			t.Fatalf("pages: %s", got)
		}
	})
	t.Run("Spans", func(t *testing.T) {
		res, err := e.ix.Search(context.Background(), app.SearchRequest{Query: "chemicals"})
		if err != nil || len(res.Hits) != 1 || len(res.Hits[0].Spans) != 1 {
			t.Fatalf("%+v %v", res, err)
		}
		text := "Case number C201713827 has been assigned. OLD BOX OF CHEMICALS"
		sp := res.Hits[0].Spans[0]
		if text[sp[0]:sp[1]] != "CHEMICALS" {
			t.Fatalf("span %v = %q", sp, text[sp[0]:sp[1]])
		}
	})
}

// TestConsistency writes, merges, replaces and deletes, and checks after
// each write (no waiting: writes are read-your-writes) that the index
// agrees with the store.
func TestConsistency(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	docs := fixtures()
	e.put(t, docs...)
	upd := mk("1", "A1", "2020-01-01T10:00:00-05:00", "EMS", "NOW WITH ZEBRA", 37.54, -77.44)
	e.put(t, upd)
	if got := strings.Join(e.ids(t, app.SearchRequest{Query: "zebra"}), " "); got != "A1" {
		t.Fatalf("merged comment not searchable: %q", got)
	}
	if got := strings.Join(e.ids(t, app.SearchRequest{Query: "unit_id:M1"}), " "); got != "A1" {
		t.Fatalf("merge kept units, index lost them: %q", got)
	}
	if _, err := e.svc.Replace(ctx, mk("1", "A1", "2020-01-01T10:00:00-05:00", "FIRE", "REPLACED", 37.54, -77.44), app.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(e.ids(t, app.SearchRequest{Query: "unit_id:M1"}), " "); got != "" {
		t.Fatalf("replaced document still indexed with old units: %q", got)
	}
	if _, err := e.svc.Delete(ctx, app.IncidentID{Department: "1", Number: "A2"}, app.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(e.ids(t, app.SearchRequest{Query: "smoke"}), " "); got != "" {
		t.Fatalf("deleted incident still found: %q", got)
	}
	storeIDs := map[string]bool{}
	if err := e.db.Scan(ctx, func(inc *app.Incident) error { storeIDs[inc.ID().Number] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	indexIDs := e.ids(t, app.SearchRequest{Limit: 100})
	if len(indexIDs) != len(storeIDs) {
		t.Fatalf("index %v, store %v", indexIDs, storeIDs)
	}
	for _, id := range indexIDs {
		if !storeIDs[id] {
			t.Fatalf("index has %s, store does not", id)
		}
	}
	if err := e.ix.Ready(ctx); err != nil {
		t.Fatalf("not ready after writes: %v", err)
	}
}

// TestReopenReplaysAndRebuilds closes the index, writes to the store
// behind its back, and reopens: it must replay what it missed. Then a
// corrupt index directory is rebuilt from the store.
func TestReopenReplaysAndRebuilds(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := store.Open(filepath.Join(dir, "cadbox.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	path := filepath.Join(dir, "index", "incidents.bleve")
	ix, err := search.Open(ctx, path, db, search.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc := app.NewService(db, ix)
	if _, err := svc.Upsert(ctx, fixtures()[:2], app.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	if _, err := db.Upsert(ctx, fixtures()[2:], app.WriteOptions{}); err != nil { // the index is not told
		t.Fatal(err)
	}
	ix, err = search.Open(ctx, path, db, search.Options{})
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, ix)
	if n, _ := ix.DocCount(); n != 4 {
		t.Fatalf("after replay: %d docs, want 4", n)
	}
	ix.Close()
	// Corrupt: remove the index metadata.
	if err := os.Remove(filepath.Join(path, "index_meta.json")); err != nil {
		t.Fatal(err)
	}
	ix, err = search.Open(ctx, path, db, search.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	waitReady(t, ix)
	if n, _ := ix.DocCount(); n != 4 {
		t.Fatalf("after rebuild: %d docs, want 4", n)
	}
}

func waitReady(t *testing.T, ix *search.Index) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for ix.Ready(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("index never caught up")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSamples runs the queries on the real samples when they are
// beside the checkout.
func TestSamples(t *testing.T) {
	files, _ := filepath.Glob("../../shared/samples/incidents/*.json")
	if len(files) == 0 {
		t.Skip("real samples not present")
	}
	e := newEnv(t)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inc, err := codec.DecodeIncident(b)
		if err != nil {
			t.Fatal(err)
		}
		e.put(t, inc)
	}
	cases := map[string]struct {
		req  app.SearchRequest
		want string
	}{
		"Phrase":   {app.SearchRequest{Query: `"OLD BOX OF CHEMICALS"`}, "F01705150050"},
		"Unit":     {app.SearchRequest{Query: "unit_id:H3"}, "F01705150050"},
		"Case":     {app.SearchRequest{Query: "C201713827"}, "F01705150050"},
		"Richmond": {app.SearchRequest{BBox: &app.BBox{MinLon: -77.6, MinLat: 37.4, MaxLon: -77.3, MaxLat: 37.7}}, "F01705150050 F01705150090 F01805170145"},
		"SF":       {app.SearchRequest{Department: "38005"}, "17073664"},
		"Edited":   {app.SearchRequest{Query: "place:edited"}, "F01705150050"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := strings.Join(e.ids(t, tc.req), " "); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestBackgroundRebuild rebuilds a missing index in the background while
// writes continue; once ready it holds every incident.
func TestBackgroundRebuild(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := store.Open(filepath.Join(dir, "cadbox.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Upsert(ctx, fixtures()[:3], app.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	ix, err := search.Open(ctx, filepath.Join(dir, "index"), db, search.Options{SyncRebuildMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	svc := app.NewService(db, ix)
	if _, err := svc.Upsert(ctx, fixtures()[3:], app.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitReady(t, ix)
	if n, _ := ix.DocCount(); n != 4 {
		t.Fatalf("after background rebuild: %d docs, want 4", n)
	}
}
