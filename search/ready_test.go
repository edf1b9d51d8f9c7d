package search_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"cadbox/app"
	"cadbox/search"
	"cadbox/store"
)

// flakyLog is the store's change log with a phantom backlog (LastSeq
// reports extra changes not yet readable) and a switchable failure.
type flakyLog struct {
	*store.DB
	extra atomic.Uint64
	fail  atomic.Bool
}

var errLogDown = errors.New("change log unavailable")

func (l *flakyLog) LastSeq(ctx context.Context) (uint64, error) {
	n, err := l.DB.LastSeq(ctx)
	return n + l.extra.Load(), err
}

func (l *flakyLog) Changes(ctx context.Context, after uint64, limit int) ([]app.Change, error) {
	if l.fail.Load() {
		return nil, errLogDown
	}
	return l.DB.Changes(ctx, after, limit)
}

// TestReadyWhileBusyNotWhileFailing: once caught up, an index a few
// changes behind (writes in flight) is ready; one whose apply fails is not.
func TestReadyWhileBusyNotWhileFailing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "cadbox.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Upsert(ctx, fixtures(), app.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	log := &flakyLog{DB: db}
	ix, err := search.Open(ctx, filepath.Join(dir, "index"), log, search.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	waitReady(t, ix)

	log.extra.Store(3)
	if err := ix.Ready(ctx); err != nil {
		t.Fatalf("caught-up index three changes behind: %v, want ready", err)
	}

	log.fail.Store(true)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ix.Kick()
		err := ix.Ready(ctx)
		if err != nil {
			if !errors.Is(err, app.ErrBehind) || !errors.Is(err, errLogDown) {
				t.Fatalf("Ready = %v, want ErrBehind wrapping the apply error", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Ready stayed nil while every apply failed")
		}
		time.Sleep(10 * time.Millisecond)
	}

	log.fail.Store(false)
	log.extra.Store(0)
	waitReady(t, ix)
}
