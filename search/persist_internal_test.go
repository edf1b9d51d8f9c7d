package search

import (
	"context"
	"path/filepath"
	"testing"

	"cadbox/app"
	"cadbox/app/fixture"
	"cadbox/store"
)

// Batches are searchable before scorch writes them (unsafe_batch); Close
// must still leave every applied change on disk, or each clean restart
// would replay the newest batches from the store before it is ready.
func TestCloseLeavesEveryAppliedChangeOnDisk(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "cadbox.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	path := filepath.Join(dir, "index")
	ix, err := Open(context.Background(), path, db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc := app.NewService(db, ix)
	g := fixture.New(3)
	ctx := context.Background()
	for b := range 5 {
		var docs []*app.Incident
		for i := range 700 {
			docs = append(docs, g.Incident(b*700+i))
		}
		if _, err := svc.Upsert(ctx, docs, app.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	last, err := db.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := ix.Applied(); got != last {
		t.Fatalf("applied %d before close, store at %d", got, last)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	idx, seq, err := openExisting(path)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if seq != last {
		t.Errorf("index on disk holds changes up to %d after Close, want %d", seq, last)
	}
	if n, _ := idx.DocCount(); n != 3500 {
		t.Errorf("index on disk holds %d incidents, want 3500", n)
	}
}

// Rebuild (cadbox reindex) closes an index it wrote with unsafe batches:
// it must wait until all of it is on disk, or the next start finds no
// sequence (the last batch carries it) and rebuilds everything again.
func TestRebuildLeavesTheWholeIndexOnDisk(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "cadbox.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	g := fixture.New(4)
	ctx := context.Background()
	const n = 6000
	for b := 0; b < n; b += 1000 {
		var docs []*app.Incident
		for i := b; i < b+1000; i++ {
			docs = append(docs, g.Incident(i))
		}
		if _, err := db.Upsert(ctx, docs, app.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	last, err := db.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "index")
	got, err := Rebuild(ctx, path, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Fatalf("Rebuild indexed %d incidents, want %d", got, n)
	}
	idx, seq, err := openExisting(path)
	if err != nil {
		t.Fatalf("the rebuilt index does not open: %v", err)
	}
	defer idx.Close()
	if seq != last {
		t.Errorf("rebuilt index on disk holds changes up to %d, want %d", seq, last)
	}
	if c, _ := idx.DocCount(); c != n {
		t.Errorf("rebuilt index on disk holds %d incidents, want %d", c, n)
	}
}
