package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"cadbox/app"
	"cadbox/app/fixture"
	"cadbox/store"
)

// TestMinFree: with more free space asked for than the volume has, every
// incident write is refused with EFULL and nothing is stored, while keys
// can still be created and revoked; with the reserve off the same write
// succeeds.
func TestMinFree(t *testing.T) {
	switch runtime.GOOS {
	case "linux", "darwin", "freebsd":
	default:
		t.Skip("free space is not read on " + runtime.GOOS)
	}
	ctx := context.Background()
	inc := fixture.New(3).Incident(0)
	path := filepath.Join(t.TempDir(), "cadbox.db")
	db, err := store.Open(path, store.Options{MinFree: 1 << 62})
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Upsert(ctx, []*app.Incident{inc}, app.WriteOptions{Source: "test"})
	var ae *app.Error
	if !errors.As(err, &ae) || ae.Code != app.EFULL {
		t.Fatalf("write with the reserve unmet: %v, want %s", err, app.EFULL)
	}
	if _, err := db.Incident(ctx, inc.ID()); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("the refused incident: %v, want %s", err, app.ENOTFOUND)
	}
	// Key management may use the reserve.
	k, _, err := app.NewAPIKey("ops", app.RoleReader, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateKey(ctx, k); err != nil {
		t.Fatalf("create a key with the reserve unmet: %v", err)
	}
	if r, err := db.RevokeKey(ctx, k.ID, time.Now()); err != nil || r.Revoked == nil {
		t.Fatalf("revoke a key with the reserve unmet: %+v %v", r, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Upsert(ctx, []*app.Incident{inc}, app.WriteOptions{Source: "test"}); err != nil {
		t.Fatalf("write with the reserve off: %v", err)
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
}
