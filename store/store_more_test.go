package store_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"cadbox/app"
	"cadbox/app/codec"
	"cadbox/store"
)

// mk builds a small valid incident.
func mk(fd, num string, opened time.Time, typ string, units ...string) *app.Incident {
	inc := &app.Incident{
		FireDepartment: &app.FireDepartment{FDID: app.Ptr(fd)},
		Description:    &app.Description{IncidentNumber: app.Ptr(num), EventOpened: app.NewTime(opened), Type: app.Ptr(typ)},
	}
	for _, u := range units {
		inc.Apparatus = append(inc.Apparatus, &app.Apparatus{UnitID: app.Ptr(u), Station: app.Ptr("ST" + u[len(u)-1:]),
			UnitStatus: map[string]*app.UnitStatus{"dispatched": {Timestamp: app.NewTime(opened.Add(time.Minute))}}})
	}
	return inc
}

var t0 = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

func TestListFilters(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	var docs []*app.Incident
	for i := range 30 {
		fd := []string{"A", "B"}[i%2]
		typ := []string{"EMS", "FIRE", "HAZMAT"}[i%3]
		docs = append(docs, mk(fd, fmt.Sprintf("N%02d", i), t0.Add(time.Duration(i)*time.Hour), typ, fmt.Sprintf("E%d", i%4), fmt.Sprintf("M%d", i%5)))
	}
	if _, err := db.Upsert(ctx, docs, app.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	brute := func(f app.IncidentFilter) []string {
		var out []string
		for i := len(docs) - 1; i >= 0; i-- {
			s := docs[i].Summary()
			if s.Matches(f) {
				out = append(out, s.ID.Number)
			}
		}
		return out
	}
	filters := map[string]app.IncidentFilter{
		"All":        {},
		"Department": {Department: "B"},
		"Type":       {Type: "FIRE"},
		"Unit":       {UnitID: "E1"},
		"Station":    {Station: "ST3"},
		"Range":      {From: t0.Add(5 * time.Hour), To: t0.Add(20 * time.Hour)},
		"DeptUnit":   {Department: "A", UnitID: "M2", To: t0.Add(25 * time.Hour)},
		"Nothing":    {Type: "NONE"},
	}
	for name, f := range filters {
		t.Run(name, func(t *testing.T) {
			want := brute(f)
			var got []string
			f.Limit = 4
			for pages := 0; ; pages++ {
				page, err := db.Incidents(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range page.Incidents {
					got = append(got, s.ID.Number)
				}
				if page.Next == "" {
					break
				}
				if pages > 20 {
					t.Fatal("too many pages")
				}
				f.Cursor = page.Next
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("got %v\nwant %v", got, want)
			}
		})
	}
	t.Run("UnitResponses", func(t *testing.T) {
		page, err := db.UnitResponses(ctx, app.UnitResponseFilter{UnitID: "E2", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range page.Responses {
			got = append(got, r.Incident.Number+"/"+app.Val(r.Apparatus.UnitID))
		}
		if want := "[N26/E2 N22/E2 N18/E2 N14/E2 N10/E2 N06/E2 N02/E2]"; fmt.Sprint(got) != want {
			t.Fatalf("got %v, want %s", got, want)
		}
		page, err = db.UnitResponses(ctx, app.UnitResponseFilter{Station: "ST0", From: t0.Add(20 * time.Hour), Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Responses {
			if app.Val(r.Apparatus.Station) != "ST0" || r.Opened.Before(t0.Add(20*time.Hour)) {
				t.Fatalf("station response out of filter: %+v", r)
			}
		}
		if len(page.Responses) != 5 { // N20/E0, N20/M0, N24/E0, N25/M0, N28/E0
			t.Fatalf("station ST0 from hour 20: %d responses", len(page.Responses))
		}
	})
}

func TestRevisionsReplayEveryVersion(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	id := app.IncidentID{Department: "A", Number: "R1"}
	var versions [][]byte
	cur := mk("A", "R1", t0, "EMS", "E1")
	for step := range 12 {
		upd := mk("A", "R1", t0, "EMS")
		switch step % 4 {
		case 0:
			upd.Description.Comments = app.Ptr(fmt.Sprintf("STEP %d", step))
		case 1:
			upd.Apparatus = []*app.Apparatus{{UnitID: app.Ptr(fmt.Sprintf("U%d", step)), UnitStatus: map[string]*app.UnitStatus{"enroute": {Timestamp: app.NewTime(t0.Add(time.Duration(step) * time.Minute))}}}}
		case 2:
			upd.Address = &app.Address{City: app.Ptr(fmt.Sprintf("C%d", step)), Latitude: app.Ptr(37.0 + float64(step)/100)}
		case 3:
			upd.Description.Type = app.Ptr(fmt.Sprintf("T%d", step))
		}
		if step == 0 {
			upd = cur
		}
		if _, err := db.Upsert(ctx, []*app.Incident{upd}, app.WriteOptions{Source: fmt.Sprint("step", step)}); err != nil {
			t.Fatal(err)
		}
		st, err := db.Incident(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := codec.Marshal(st.Incident)
		versions = append(versions, b)
	}
	if _, err := db.Delete(ctx, id, app.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Upsert(ctx, []*app.Incident{mk("A", "R1", t0, "REBORN")}, app.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	revs, err := db.Revisions(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 14 || revs[12].Action != app.ActionDeleted || revs[13].Action != app.ActionCreated || revs[3].Source != "step3" {
		t.Fatalf("revisions: %+v", revs)
	}
	for i, want := range versions {
		got, rev, err := db.IncidentAt(ctx, id, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		gb, _ := codec.Marshal(got)
		if !jsonEqual(t, gb, want) || rev.Number != uint64(i+1) {
			t.Fatalf("revision %d:\n got %s\nwant %s", i+1, gb, want)
		}
	}
	if got, _, err := db.IncidentAt(ctx, id, 13); err != nil || got != nil {
		t.Fatalf("deletion revision: %v %v", got, err)
	}
	if _, _, err := db.IncidentAt(ctx, id, 15); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("missing revision: %v", err)
	}
}

func TestIfMatch(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	doc := mk("A", "I1", t0, "EMS", "E1")
	if _, err := db.Upsert(ctx, []*app.Incident{doc}, app.WriteOptions{IfMatch: `"1"`}); app.ErrorCode(err) != app.EPRECONDITION {
		t.Fatalf("If-Match on a missing incident: %v", err)
	}
	if _, err := db.Upsert(ctx, []*app.Incident{doc}, app.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Replace(ctx, mk("A", "I1", t0, "FIRE"), app.WriteOptions{IfMatch: `"7"`}); app.ErrorCode(err) != app.EPRECONDITION {
		t.Fatalf("stale If-Match: %v", err)
	}
	if _, err := db.Delete(ctx, app.IncidentID{Department: "A", Number: "I1"}, app.WriteOptions{IfMatch: `"0", "1"`}); err != nil {
		t.Fatalf("matching If-Match list: %v", err)
	}
	if _, err := db.Delete(ctx, app.IncidentID{Department: "A", Number: "I1"}, app.WriteOptions{}); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("second delete: %v", err)
	}
}

// TestConcurrentWritersDurable has many goroutines write at once (they
// share commits), then reopens the file and finds every acknowledged
// write.
func TestConcurrentWritersDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cadbox.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				num := fmt.Sprintf("W%02d-%02d", w, i)
				res, err := db.Upsert(ctx, []*app.Incident{mk("C", num, t0.Add(time.Duration(i)*time.Second), "EMS", "E1")}, app.WriteOptions{})
				if err != nil || res[0].Status != app.StatusCreated {
					errs <- fmt.Errorf("%s: %v %+v", num, err, res)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for w := range 16 {
		for i := range 20 {
			if _, err := db.Incident(ctx, app.IncidentID{Department: "C", Number: fmt.Sprintf("W%02d-%02d", w, i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestSecondProcessFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cadbox.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	if _, err := store.Open(path, store.Options{}); err == nil {
		t.Fatal("second open of a locked store succeeded")
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("second open did not fail fast")
	}
}

func TestBackupRestore(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	if _, err := db.Upsert(ctx, []*app.Incident{mk("A", "B1", t0, "EMS", "E1"), mk("A", "B2", t0, "FIRE", "E2")}, app.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := db.Backup(ctx, &buf)
	if err != nil || n != int64(buf.Len()) || n == 0 {
		t.Fatalf("backup: %d bytes, %v", n, err)
	}
	// Writes after the backup started are not in it.
	if _, err := db.Upsert(ctx, []*app.Incident{mk("A", "B3", t0, "EMS")}, app.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "restored", "cadbox.db")
	if _, err := store.Restore(bytes.NewReader(buf.Bytes()), target); err != nil {
		t.Fatal(err)
	}
	rdb, err := store.Open(target, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	for num, want := range map[string]bool{"B1": true, "B2": true, "B3": false} {
		_, err := rdb.Incident(ctx, app.IncidentID{Department: "A", Number: num})
		if got := err == nil; got != want {
			t.Errorf("%s present = %v, want %v (%v)", num, got, want, err)
		}
	}
	if _, err := store.Restore(bytes.NewReader([]byte("not a database")), target); err == nil {
		t.Fatal("restoring garbage succeeded")
	}
	if _, err := rdb.Incident(ctx, app.IncidentID{Department: "A", Number: "B1"}); err != nil {
		t.Fatalf("failed restore damaged the store: %v", err)
	}
}
