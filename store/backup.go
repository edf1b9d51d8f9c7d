package store

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the whole store to w while the store
// keeps serving: it is one read transaction, so writers are not blocked
// and the copy is the state as of its start. It returns the bytes written.
func (s *DB) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(ctxWriter{ctx, w})
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}

// ctxWriter stops a long copy when the client goes away.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// Restore replaces the store file at path with the backup read from r. It
// must run while no cadbox process has the store open. The backup is
// written beside the target, checked (it must open and pass bbolt's
// consistency check), synced, and only then renamed over the target, so a
// failed restore leaves the old store in place.
func Restore(r io.Reader, path string) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	tmp := path + ".restore"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	defer os.Remove(tmp)
	n, err := io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("restore: write %s: %w", tmp, err)
	}
	db, err := Open(tmp, Options{})
	if err != nil {
		return n, fmt.Errorf("restore: the backup does not open as a cadbox store: %w", err)
	}
	cerr := db.Check()
	if err := db.Close(); err != nil && cerr == nil {
		cerr = err
	}
	if cerr != nil {
		return n, fmt.Errorf("restore: the backup fails the consistency check: %w", cerr)
	}
	if err := os.Rename(tmp, path); err != nil {
		return n, fmt.Errorf("restore: %w", err)
	}
	return n, nil
}
