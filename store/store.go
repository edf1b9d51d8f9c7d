// Package store keeps incidents in a bbolt file. bbolt is the source of
// truth: every write is committed (fsynced) before it returns.
//
// Buckets:
//
//	incidents    fd_id 0x00 number           -> incident without apparatus: rev, modified, packed timestamps and position, rest as compressed JSON
//	apparatus    incident 0x00 unit_id       -> one unit response: position, packed statuses, rest as compressed JSON
//	revisions    incident 0x00 rev(8)        -> action, received, source, reverse merge patch
//	summaries    fd_id 0x00 number           -> listing summary (compressed JSON)
//	idx_opened   opened(8) incident          -> empty
//	idx_dept     fd_id 0x00 opened(8) number -> empty
//	idx_unit     unit 0x00 opened(8) incident -> empty
//	idx_station  station 0x00 opened(8) incident 0x00 unit -> empty
//	changes      seq(8)                      -> incident key (for derived indexes to replay)
//	meta         "schema"                    -> schema version
//	api_keys     key id                      -> API key (role, departments, SHA-256 of the token)
//	api_key_hashes SHA-256 of a token        -> key id
//
// Incident and apparatus records are format 2 (record.go): the values
// that compress poorly as JSON (timestamps, coordinates, geohashes
// derived from them) are packed by store/internal/pack, the rest is
// compressed JSON with a dictionary of its own (incidents2.dict,
// apparatus2.dict). Format-1 records (compressed JSON alone, with
// records.dict) written before are still read; summaries and revisions
// are format 1.
package store

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"cadbox/app"
	"cadbox/app/codec"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// schemaVersion is the layout version written to the meta bucket. 2:
// incident and apparatus records may be format 2 (see record.go). A
// version-1 store is still read (its format-1 records stay readable) and
// is marked 2 when opened, so that an older cadbox, which cannot read
// format-2 records, refuses the store rather than failing on them.
const (
	schemaVersion   = "2"
	schemaVersionV1 = "1"
)

var (
	bucketIncidents  = []byte("incidents")
	bucketApparatus  = []byte("apparatus")
	bucketRevisions  = []byte("revisions")
	bucketSummaries  = []byte("summaries")
	bucketOpened     = []byte("idx_opened")
	bucketDept       = []byte("idx_dept")
	bucketUnit       = []byte("idx_unit")
	bucketStation    = []byte("idx_station")
	bucketChanges    = []byte("changes")
	bucketMeta       = []byte("meta")
	bucketKeys       = []byte("api_keys")
	bucketKeyHashes  = []byte("api_key_hashes")
	allBuckets       = [][]byte{bucketIncidents, bucketApparatus, bucketRevisions, bucketSummaries, bucketOpened, bucketDept, bucketUnit, bucketStation, bucketChanges, bucketMeta, bucketKeys, bucketKeyHashes}
	keySchemaVersion = []byte("schema")
)

// The S2 dictionaries records are compressed with (see compressor). A
// record needs the dictionary it was written with, so each is frozen once
// released: a retrained one (make dict) comes with a new record format
// byte (see record.go).
var (
	// recordsDict is the dictionary of format-1 records: summaries and
	// revisions, and incidents and apparatus written before format 2.
	//
	//go:embed records.dict
	recordsDict []byte
	// incidentsDict and apparatusDict are the dictionaries of format-2
	// incident and apparatus records, trained on the JSON that remains of
	// each once store/internal/pack has taken its timestamps and
	// coordinates.
	//
	//go:embed incidents2.dict
	incidentsDict []byte
	//go:embed apparatus2.dict
	apparatusDict []byte
)

// DB is the incident store. It is safe for concurrent use.
type DB struct {
	db *bolt.DB
	// zc compresses with recordsDict, zcIncidents with incidentsDict,
	// zcApparatus with apparatusDict.
	zc, zcIncidents, zcApparatus *compressor
	// recent holds the latest committed changes for Changes.
	recent *recent

	now  func() time.Time
	reqs chan commitReq
	done chan struct{}
	once sync.Once
	// minFree and dir: see Options.MinFree.
	minFree int64
	dir     string
}

var _ app.IncidentStore = (*DB)(nil)

// Options tune Open.
type Options struct {
	// Now returns the current time (receive times of revisions). Defaults
	// to time.Now.
	Now func() time.Time
	// NoSync skips fsync on commit. Only for benchmarks that measure
	// everything else; never in production.
	NoSync bool
	// MinFree is the space, in bytes, writes leave free on the store's
	// volume: while less is free every write is refused with EFULL, so
	// neither the store nor the search index beside it meets a full
	// volume (the index cannot survive one). 0 turns the check off.
	MinFree int64
}

// Open opens (creating if needed) the store at path. A second process
// opening the same file fails after one second instead of waiting.
func Open(path string, opts Options) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType, NoSync: opts.NoSync})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open %s: another cadbox process holds it: %w", path, err)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := bdb.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(keySchemaVersion); {
		case v == nil, string(v) == schemaVersionV1:
			return meta.Put(keySchemaVersion, []byte(schemaVersion))
		case string(v) != schemaVersion:
			return fmt.Errorf("store schema version %q, this cadbox reads %q", v, schemaVersion)
		}
		return nil
	}); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("init %s: %w", path, err)
	}
	s := &DB{db: bdb, recent: newRecent(), now: time.Now, reqs: make(chan commitReq), done: make(chan struct{}), minFree: opts.MinFree, dir: filepath.Dir(path)}
	for _, d := range []struct {
		zc   **compressor
		name string
		dict []byte
	}{{&s.zc, "records.dict", recordsDict}, {&s.zcIncidents, "incidents2.dict", incidentsDict}, {&s.zcApparatus, "apparatus2.dict", apparatusDict}} {
		if *d.zc, err = newCompressor(d.name, d.dict); err != nil {
			bdb.Close()
			return nil, err
		}
	}
	if opts.Now != nil {
		s.now = opts.Now
	}
	go s.committer()
	return s, nil
}

// Close waits for queued writes, then closes the file.
func (s *DB) Close() error {
	var err error
	s.once.Do(func() {
		close(s.reqs)
		<-s.done
		err = s.db.Close()
	})
	return err
}

// Path returns the file's path.
func (s *DB) Path() string { return s.db.Path() }

// Ping checks that the store can serve a read.
func (s *DB) Ping(ctx context.Context) error {
	return s.view(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketIncidents) == nil {
			return errors.New("incidents bucket missing")
		}
		return nil
	})
}

// Size returns the size of the store file in bytes.
func (s *DB) Size() (int64, error) {
	var size int64
	err := s.db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil })
	return size, err
}

// Check runs bbolt's consistency check and returns every problem found.
func (s *DB) Check() error {
	return s.db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

func (s *DB) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.db.View(fn); err != nil {
		return storeError(err)
	}
	return nil
}

// commitReq is one write waiting for the committer.
type commitReq struct {
	fn   func(*bolt.Tx) error
	errc chan error
	// reserve: the write may use the free-space reserve (Options.MinFree).
	reserve bool
}

// maxGroup bounds how many queued writes share one transaction.
const maxGroup = 256

// committer runs writes. Writes that queue up while a commit (and its
// fsync) is under way share the next transaction, so concurrent clients
// cost one fsync per group rather than one each, with no added delay for
// a lone writer. A write's fn must be safe to run twice: when one fn of a
// group fails, the others are retried one by one.
func (s *DB) committer() {
	defer close(s.done)
	for req := range s.reqs {
		group := []commitReq{req}
	drain:
		for len(group) < maxGroup {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break drain
				}
				group = append(group, r)
			default:
				break drain
			}
		}
		if err := s.checkFree(); err != nil {
			kept := group[:0]
			for _, r := range group {
				if r.reserve {
					kept = append(kept, r)
					continue
				}
				r.errc <- err
			}
			if len(kept) == 0 {
				continue
			}
			group = kept
		}
		var failed *commitReq
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i := range group {
				if err := group[i].fn(tx); err != nil {
					failed = &group[i]
					return err
				}
			}
			return nil
		})
		if err == nil || len(group) == 1 || failed == nil {
			for _, r := range group {
				r.errc <- err
			}
			continue
		}
		for _, r := range group {
			r.errc <- s.db.Update(r.fn)
		}
	}
}

// checkFree refuses a write while the volume has less than minFree bytes
// free. A volume whose free space cannot be read is not checked.
func (s *DB) checkFree() error {
	if s.minFree <= 0 {
		return nil
	}
	free, err := freeSpace(s.dir)
	if err != nil || free >= s.minFree {
		return nil
	}
	return app.Errorf(app.EFULL, "The data volume is nearly full (%d MiB free, %d MiB kept in reserve); the write was not stored. Free space or grow the volume.",
		free>>20, s.minFree>>20)
}

// update runs fn in a write transaction and returns once it is committed.
func (s *DB) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	return s.commit(ctx, fn, false)
}

// updateReserve is update for the few bytes of key management, which may
// use the free-space reserve: revoking a key must not wait for space.
func (s *DB) updateReserve(ctx context.Context, fn func(*bolt.Tx) error) error {
	return s.commit(ctx, fn, true)
}

func (s *DB) commit(ctx context.Context, fn func(*bolt.Tx) error, reserve bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := commitReq{fn: fn, errc: make(chan error, 1), reserve: reserve}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	// Wait even if ctx ends now: the write may already be committing, and
	// the caller must learn whether it was.
	if err := <-req.errc; err != nil {
		return storeError(err)
	}
	return nil
}

// storeError classifies a bbolt or file-system error.
func storeError(err error) error {
	var ae *app.Error
	switch {
	case errors.As(err, &ae):
		return err
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return &app.Error{Code: app.EFULL, Message: "The data volume is full; the write was not stored.", Err: err}
	case errors.Is(err, bolterrors.ErrDatabaseNotOpen):
		return &app.Error{Code: app.EUNAVAILABLE, Message: "The store is closed.", Err: err}
	case errors.Is(err, errCorrupt):
		return fmt.Errorf("store: %w", err)
	}
	return fmt.Errorf("store: %w", err)
}

// stored is an incident read back inside a transaction.
type stored struct {
	key  []byte
	inc  *app.Incident
	rec  incidentRecord
	json []byte // canonical JSON of inc (with apparatus); see whole
}

// whole returns the canonical JSON of the stored incident (computed on
// first use: only writes compare and diff it).
func (st *stored) whole() ([]byte, error) {
	if st.json == nil {
		b, err := codec.Marshal(st.inc)
		if err != nil {
			return nil, err
		}
		st.json = b
	}
	return st.json, nil
}

// load reads an incident, or returns nil if there is none.
func (s *DB) load(tx *bolt.Tx, key []byte) (*stored, error) {
	v := tx.Bucket(bucketIncidents).Get(key)
	if v == nil {
		return nil, nil
	}
	rec, err := decodeIncidentRecord(v)
	if err != nil {
		return nil, fmt.Errorf("incident %q: %w", key, err)
	}
	inc, err := s.decodeHead(rec)
	if err != nil {
		return nil, fmt.Errorf("incident %q: %w", key, err)
	}
	units, err := s.loadApparatus(tx, key)
	if err != nil {
		return nil, err
	}
	inc.Apparatus = units
	return &stored{key: key, inc: inc, rec: rec}, nil
}

func (s *DB) loadApparatus(tx *bolt.Tx, key []byte) ([]*app.Apparatus, error) {
	prefix := childPrefix(key)
	type posUnit struct {
		pos int
		u   *app.Apparatus
	}
	var units []posUnit
	c := tx.Bucket(bucketApparatus).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		pos, u, err := s.decodeApparatus(v)
		if err != nil {
			return nil, fmt.Errorf("apparatus %q: %w", k, err)
		}
		units = append(units, posUnit{pos, u})
	}
	if len(units) == 0 {
		return nil, nil
	}
	// Positions are 0..n-1; should they not be, key order is used.
	out := make([]*app.Apparatus, len(units))
	for _, pu := range units {
		if pu.pos >= len(out) || out[pu.pos] != nil {
			for i, pu := range units {
				out[i] = pu.u
			}
			return out, nil
		}
		out[pu.pos] = pu.u
	}
	return out, nil
}

func notFound(id app.IncidentID) error {
	return app.Errorf(app.ENOTFOUND, "Incident %s of department %s was not found.", id.Number, id.Department)
}
