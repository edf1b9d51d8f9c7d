package store

import (
	"bytes"
	"context"
	"fmt"

	"cadbox/app"

	bolt "go.etcd.io/bbolt"
)

var _ app.ChangeLog = (*DB)(nil)

// LastSeq returns the sequence number of the newest write (0 if none).
func (s *DB) LastSeq(ctx context.Context) (uint64, error) {
	var seq uint64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		seq = tx.Bucket(bucketChanges).Sequence()
		return nil
	})
	return seq, err
}

// Changes returns the changes after a sequence number, each incident
// once, with its content as of its last change in the range. The latest
// commits' incidents come from memory (see recent), the rest from disk;
// either way they are shared and must not be modified.
func (s *DB) Changes(ctx context.Context, after uint64, limit int) ([]app.Change, error) {
	if limit <= 0 {
		limit = 1000
	}
	var out []app.Change
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketChanges).Cursor()
		last := map[string]int{} // incident key -> index in out
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			seq := beUint64(k)
			if i, ok := last[string(v)]; ok {
				out[i].Seq = seq // later write of the same incident
				continue
			}
			id, ok := parseIncidentKey(v)
			if !ok {
				return fmt.Errorf("change %d: bad key %q", seq, v)
			}
			last[string(bytes.Clone(v))] = len(out)
			out = append(out, app.Change{Seq: seq, ID: id})
		}
		for i := range out {
			key := incidentKey(out[i].ID)
			if inc, ok := s.recent.get(out[i].Seq, key); ok {
				out[i].Incident = inc
				continue
			}
			st, err := s.load(tx, key)
			if err != nil {
				return err
			}
			if st != nil {
				out[i].Incident = st.inc
			}
		}
		return nil
	})
	// Keep the log order: a change's Seq may have moved forward; the
	// caller records the greatest Seq it applied.
	return out, err
}

// Scan calls fn for every stored incident in key order. It holds one read
// transaction for the whole scan (writers are not blocked).
func (s *DB) Scan(ctx context.Context, fn func(*app.Incident) error) error {
	return s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketIncidents).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			st, err := s.load(tx, k)
			if err != nil {
				return err
			}
			if err := fn(st.inc); err != nil {
				return err
			}
		}
		return nil
	})
}

// Count returns how many incidents are stored.
func (s *DB) Count(ctx context.Context) (int, error) {
	var n int
	err := s.view(ctx, func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketIncidents).Stats().KeyN
		return nil
	})
	return n, err
}
