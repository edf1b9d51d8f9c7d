package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"cadbox/app"
	"cadbox/app/codec"
	"cadbox/app/fixture"
	"cadbox/store"
)

// TestChangesMemoryMatchesDisk: Changes hands out the latest commits'
// incidents from memory. What it hands out must be what is on disk: the
// same change log read by a freshly opened store (which has nothing in
// memory and reads every incident back) gives the same sequence numbers
// and JSON-equal incidents, through creates, merges, replaces and
// deletes.
func TestChangesMemoryMatchesDisk(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cadbox.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := fixture.New(7)
	var docs []*app.Incident
	for i := range 200 {
		docs = append(docs, g.Incident(i))
	}
	if _, err := db.Upsert(ctx, docs, app.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Unfold a third of them (merges), replace one, delete another.
	for i := 0; i < 200; i += 3 {
		if _, err := db.Upsert(ctx, []*app.Incident{g.Update(g.Incident(i), 1+i%4)}, app.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Replace(ctx, g.Update(g.Incident(1), 2), app.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Delete(ctx, g.Incident(2).ID(), app.WriteOptions{}); err != nil {
		t.Fatal(err)
	}

	fromMemory, err := db.Changes(ctx, 0, 10000)
	if err != nil {
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
	fromDisk, err := db.Changes(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}

	if len(fromMemory) != 200 || len(fromDisk) != len(fromMemory) {
		t.Fatalf("changes: %d from memory, %d from disk, want 200 each", len(fromMemory), len(fromDisk))
	}
	deleted := 0
	for i, m := range fromMemory {
		d := fromDisk[i]
		if m.Seq != d.Seq || m.ID != d.ID {
			t.Fatalf("change %d: memory (%d, %v), disk (%d, %v)", i, m.Seq, m.ID, d.Seq, d.ID)
		}
		if (m.Incident == nil) != (d.Incident == nil) {
			t.Fatalf("change %d (%v): deleted in one and not the other", i, m.ID)
		}
		if m.Incident == nil {
			deleted++
			continue
		}
		mj, err := codec.Marshal(m.Incident)
		if err != nil {
			t.Fatal(err)
		}
		dj, err := codec.Marshal(d.Incident)
		if err != nil {
			t.Fatal(err)
		}
		if !jsonEqual(t, mj, dj) {
			t.Errorf("change %d (%v): memory and disk differ\nmemory %s\ndisk   %s", i, m.ID, mj, dj)
		}
	}
	if deleted != 1 {
		t.Errorf("%d deletions in the change log, want 1", deleted)
	}
}

// TestChangesAfterSkipsApplied: a consumer that asks for the changes after
// the ones it applied gets only newer ones, newest content included.
func TestChangesAfterSkipsApplied(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	g := fixture.New(8)
	a, b := g.Incident(0), g.Incident(1)
	res, err := db.Upsert(ctx, []*app.Incident{a, b}, app.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	applied := max(res[0].Seq, res[1].Seq)
	upd := g.Update(g.Incident(1), 3)
	if _, err := db.Upsert(ctx, []*app.Incident{upd}, app.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := db.Changes(ctx, applied, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != b.ID() || got[0].Seq <= applied {
		t.Fatalf("changes after %d: %+v, want one change of %v", applied, got, b.ID())
	}
	stored, err := db.Incident(ctx, b.ID())
	if err != nil {
		t.Fatal(err)
	}
	gj, _ := codec.Marshal(got[0].Incident)
	sj, _ := codec.Marshal(stored.Incident)
	if !jsonEqual(t, gj, sj) {
		t.Errorf("change content differs from the stored incident\nchange %s\nstored %s", gj, sj)
	}
}
