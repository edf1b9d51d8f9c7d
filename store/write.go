package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"cadbox/app"
	"cadbox/app/codec"

	bolt "go.etcd.io/bbolt"
)

// Upsert creates or merges each incident in one transaction. The
// incidents must be validated. It returns after the transaction is
// committed. A document that fails inside the transaction fails the whole
// call (the store has no per-document failure other than I/O), so
// opts.Atomic needs nothing more here.
func (s *DB) Upsert(ctx context.Context, docs []*app.Incident, opts app.WriteOptions) ([]app.WriteResult, error) {
	// Encode what a new incident needs before taking the write lock: the
	// committer is a single goroutine, and decoding and compression
	// parallelize across request goroutines.
	pre, err := s.prepareAll(docs)
	if err != nil {
		return nil, err
	}
	results := make([]app.WriteResult, len(docs))
	now := s.now().UTC()
	err = s.update(ctx, func(tx *bolt.Tx) error {
		for i, p := range pre {
			r, err := s.upsertTx(tx, p, now, opts)
			if err != nil {
				return err
			}
			results[i] = r
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// Replace stores doc as the whole new version of its incident.
func (s *DB) Replace(ctx context.Context, doc *app.Incident, opts app.WriteOptions) (app.WriteResult, error) {
	p, err := s.prepare(doc)
	if err != nil {
		return app.WriteResult{}, err
	}
	var res app.WriteResult
	now := s.now().UTC()
	err = s.update(ctx, func(tx *bolt.Tx) error {
		old, err := s.load(tx, p.key)
		if err != nil {
			return err
		}
		if err := checkIfMatch(old, p.id, opts.IfMatch); err != nil {
			return err
		}
		if old == nil {
			res, err = s.create(tx, p, now, opts.Source)
			return err
		}
		pj, err := p.whole()
		if err != nil {
			return err
		}
		res, err = s.change(tx, old, p.inc, pj, actReplaced, now, opts.Source)
		return err
	})
	return res, err
}

// Delete removes an incident; the revision keeps the deleted document.
func (s *DB) Delete(ctx context.Context, id app.IncidentID, opts app.WriteOptions) (app.WriteResult, error) {
	key := incidentKey(id)
	var res app.WriteResult
	now := s.now().UTC()
	err := s.update(ctx, func(tx *bolt.Tx) error {
		old, err := s.load(tx, key)
		if err != nil {
			return err
		}
		if old == nil {
			return notFound(id)
		}
		if err := checkIfMatch(old, id, opts.IfMatch); err != nil {
			return err
		}
		oldJSON, err := old.whole()
		if err != nil {
			return err
		}
		rev := old.rec.rev + 1
		if err := s.removeTx(tx, old); err != nil {
			return err
		}
		rr := revisionRecord{action: actDeleted, received: now, source: opts.Source, patch: s.zc.compress(nil, oldJSON)}
		if err := bucket(tx, bucketRevisions).Put(revisionKey(key, rev), rr.encode()); err != nil {
			return err
		}
		seq, err := s.logChange(tx, key, nil)
		if err != nil {
			return err
		}
		res = app.WriteResult{ID: id, Status: app.StatusDeleted, Revision: rev, Modified: now, Seq: seq}
		return nil
	})
	return res, err
}

func checkIfMatch(old *stored, id app.IncidentID, ifMatch string) error {
	switch {
	case ifMatch == "":
		return nil
	case old == nil:
		return app.Errorf(app.EPRECONDITION, "If-Match was given but incident %s of department %s does not exist.", id.Number, id.Department)
	case ifMatch == "*":
		return nil
	case !etagListHas(ifMatch, app.ETag(old.rec.rev)):
		return app.Errorf(app.EPRECONDITION, "The incident has changed: its current ETag is %s, not %s.", app.ETag(old.rec.rev), ifMatch)
	}
	return nil
}

// etagListHas reports whether an If-Match list holds etag (weak
// validators never match: If-Match uses strong comparison).
func etagListHas(list, etag string) bool {
	for _, f := range bytes.Split([]byte(list), []byte(",")) {
		if string(bytes.TrimSpace(f)) == etag {
			return true
		}
	}
	return false
}

// prepared is an incoming incident encoded for a create.
type prepared struct {
	id      app.IncidentID
	key     []byte
	inc     *app.Incident
	json    []byte   // canonical JSON, whole document (lazy: whole)
	head    []byte   // body of the incident record (format 2), without apparatus
	units   [][]byte // body of each apparatus record (format 2)
	summary []byte   // compressed JSON summary
}

// prepareAll encodes documents on every core.
func (s *DB) prepareAll(docs []*app.Incident) ([]*prepared, error) {
	pre := make([]*prepared, len(docs))
	workers := min(runtime.GOMAXPROCS(0), (len(docs)+31)/32)
	if workers <= 1 {
		for i, d := range docs {
			p, err := s.prepare(d)
			if err != nil {
				return nil, err
			}
			pre[i] = p
		}
		return pre, nil
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(docs); i += workers {
				p, err := s.prepare(docs[i])
				if err != nil {
					errs[w] = err
					return
				}
				pre[i] = p
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return pre, nil
}

func (s *DB) prepare(inc *app.Incident) (*prepared, error) {
	id := inc.ID()
	if !app.ValidID(id.Department) || !app.ValidID(id.Number) {
		return nil, app.Errorf(app.EINVALID, "The incident has no valid fd_id and incident_number.")
	}
	p := &prepared{id: id, key: incidentKey(id), inc: inc}
	var err error
	if p.head, p.units, p.summary, err = s.encodeParts(inc); err != nil {
		return nil, err
	}
	return p, nil
}

// whole returns the canonical JSON of the whole incoming document (only
// an update or replace needs it).
func (p *prepared) whole() ([]byte, error) {
	if p.json == nil {
		b, err := codec.Marshal(p.inc)
		if err != nil {
			return nil, err
		}
		p.json = b
	}
	return p.json, nil
}

// encodeParts encodes the records of an incident: the incident without
// its apparatus, each apparatus, and the listing summary.
func (s *DB) encodeParts(inc *app.Incident) (head []byte, units [][]byte, summary []byte, err error) {
	if head, err = s.encodeHead(inc); err != nil {
		return nil, nil, nil, err
	}
	units = make([][]byte, len(inc.Apparatus))
	for i, u := range inc.Apparatus {
		if units[i], err = s.encodeApparatus(u); err != nil {
			return nil, nil, nil, err
		}
	}
	sj, err := codec.Marshal(inc.Summary())
	if err != nil {
		return nil, nil, nil, err
	}
	return head, units, s.zc.compress(nil, sj), nil
}

func (s *DB) upsertTx(tx *bolt.Tx, p *prepared, now time.Time, opts app.WriteOptions) (app.WriteResult, error) {
	old, err := s.load(tx, p.key)
	if err != nil {
		return app.WriteResult{}, err
	}
	if err := checkIfMatch(old, p.id, opts.IfMatch); err != nil {
		return app.WriteResult{}, err
	}
	if old == nil {
		return s.create(tx, p, now, opts.Source)
	}
	// Merge into a fresh copy of the stored document: old.inc must stay
	// as it was to compute the reverse patch and the stale index entries.
	oldJSON, err := old.whole()
	if err != nil {
		return app.WriteResult{}, err
	}
	var merged app.Incident
	if err := codec.Unmarshal(oldJSON, &merged); err != nil {
		return app.WriteResult{}, err
	}
	pj, err := p.whole()
	if err != nil {
		return app.WriteResult{}, err
	}
	var upd app.Incident
	if err := codec.Unmarshal(pj, &upd); err != nil {
		return app.WriteResult{}, err
	}
	app.Merge(&merged, &upd)
	mj, err := codec.Marshal(&merged)
	if err != nil {
		return app.WriteResult{}, err
	}
	return s.change(tx, old, &merged, mj, actUpdated, now, opts.Source)
}

// create stores a new incident (or one that was deleted before).
func (s *DB) create(tx *bolt.Tx, p *prepared, now time.Time, source string) (app.WriteResult, error) {
	rev := lastRevision(tx, p.key) + 1
	if err := s.putTx(tx, p.key, p.inc, p.head, p.units, p.summary, rev, now); err != nil {
		return app.WriteResult{}, err
	}
	rr := revisionRecord{action: actCreated, received: now, source: source}
	if err := bucket(tx, bucketRevisions).Put(revisionKey(p.key, rev), rr.encode()); err != nil {
		return app.WriteResult{}, err
	}
	seq, err := s.logChange(tx, p.key, p.inc)
	if err != nil {
		return app.WriteResult{}, err
	}
	return app.WriteResult{ID: p.id, Status: app.StatusCreated, Revision: rev, Modified: now, Seq: seq}, nil
}

// change stores a new version of an existing incident, unless it equals
// the stored one.
func (s *DB) change(tx *bolt.Tx, old *stored, inc *app.Incident, incJSON []byte, action byte, now time.Time, source string) (app.WriteResult, error) {
	id := old.inc.ID()
	oldJSON, err := old.whole()
	if err != nil {
		return app.WriteResult{}, err
	}
	if bytes.Equal(incJSON, oldJSON) {
		return app.WriteResult{ID: id, Status: app.StatusUnchanged, Revision: old.rec.rev, Modified: old.rec.modified}, nil
	}
	newTree, err := app.PatchTree(incJSON)
	if err != nil {
		return app.WriteResult{}, err
	}
	oldTree, err := app.PatchTree(oldJSON)
	if err != nil {
		return app.WriteResult{}, err
	}
	patch, err := app.PatchJSON(app.Diff(newTree, oldTree))
	if err != nil {
		return app.WriteResult{}, err
	}
	head, units, summary, err := s.encodeParts(inc)
	if err != nil {
		return app.WriteResult{}, err
	}
	if err := s.removeTx(tx, old); err != nil {
		return app.WriteResult{}, err
	}
	rev := old.rec.rev + 1
	key := incidentKey(inc.ID())
	if err := s.putTx(tx, key, inc, head, units, summary, rev, now); err != nil {
		return app.WriteResult{}, err
	}
	rr := revisionRecord{action: action, received: now, source: source, patch: s.zc.compress(nil, patch)}
	if err := bucket(tx, bucketRevisions).Put(revisionKey(key, rev), rr.encode()); err != nil {
		return app.WriteResult{}, err
	}
	seq, err := s.logChange(tx, key, inc)
	if err != nil {
		return app.WriteResult{}, err
	}
	return app.WriteResult{ID: id, Status: app.StatusUpdated, Revision: rev, Modified: now, Seq: seq}, nil
}

// putTx writes an incident's records and index entries.
func (s *DB) putTx(tx *bolt.Tx, key []byte, inc *app.Incident, head []byte, units [][]byte, summary []byte, rev uint64, now time.Time) error {
	rec := incidentRecord{format: formatV2, rev: rev, modified: now, body: head}
	if err := bucket(tx, bucketIncidents).Put(key, rec.encode()); err != nil {
		return fmt.Errorf("put incident: %w", err)
	}
	ab := bucket(tx, bucketApparatus)
	for i, u := range inc.Apparatus {
		if err := ab.Put(apparatusKey(key, app.Val(u.UnitID)), apparatusRecord{format: formatV2, pos: i, body: units[i]}.encode()); err != nil {
			return fmt.Errorf("put apparatus: %w", err)
		}
	}
	if err := bucket(tx, bucketSummaries).Put(key, summary); err != nil {
		return fmt.Errorf("put summary: %w", err)
	}
	for _, e := range indexEntries(key, inc) {
		if err := bucket(tx, e.bucket).Put(e.key, []byte{}); err != nil {
			return fmt.Errorf("put index %s: %w", e.bucket, err)
		}
	}
	return nil
}

// removeTx deletes an incident's records and index entries (not its
// revisions).
func (s *DB) removeTx(tx *bolt.Tx, old *stored) error {
	if err := tx.Bucket(bucketIncidents).Delete(old.key); err != nil {
		return err
	}
	if err := tx.Bucket(bucketSummaries).Delete(old.key); err != nil {
		return err
	}
	ab := tx.Bucket(bucketApparatus)
	for _, u := range old.inc.Apparatus {
		if err := ab.Delete(apparatusKey(old.key, app.Val(u.UnitID))); err != nil {
			return err
		}
	}
	for _, e := range indexEntries(old.key, old.inc) {
		if err := tx.Bucket(e.bucket).Delete(e.key); err != nil {
			return err
		}
	}
	return nil
}

type indexEntry struct {
	bucket, key []byte
}

func indexEntries(key []byte, inc *app.Incident) []indexEntry {
	opened := inc.Opened()
	id := inc.ID()
	out := make([]indexEntry, 0, 2+2*len(inc.Apparatus))
	out = append(out,
		indexEntry{bucketOpened, openedKey(opened, key)},
		indexEntry{bucketDept, prefixedTimeKey(id.Department, opened, []byte(id.Number))})
	for _, u := range inc.Apparatus {
		unit := app.Val(u.UnitID)
		out = append(out, indexEntry{bucketUnit, prefixedTimeKey(unit, opened, key)})
		if st := app.Val(u.Station); indexable(st) {
			out = append(out, indexEntry{bucketStation, prefixedTimeKey(st, opened, key, []byte(unit))})
		}
	}
	return out
}

// fillPercent is how full bbolt packs a page when it splits one. Its
// default (0.5) leaves half of every page empty; most of cadbox's keys
// arrive in time order (change log, time indexes, new incidents from one
// CAD system), where nearly full pages are right, and random inserts
// still leave 10% of each page for growth.
const fillPercent = 0.9

// bucket returns a bucket of a write transaction, with cadbox's fill
// percent (bbolt does not persist it).
func bucket(tx *bolt.Tx, name []byte) *bolt.Bucket {
	b := tx.Bucket(name)
	b.FillPercent = fillPercent
	return b
}

// lastRevision returns the newest revision number of an incident, 0 if
// it never existed.
func lastRevision(tx *bolt.Tx, key []byte) uint64 {
	prefix := childPrefix(key)
	c := tx.Bucket(bucketRevisions).Cursor()
	k, _ := c.Seek(revisionKey(key, ^uint64(0)))
	if k == nil || !bytes.Equal(k, revisionKey(key, ^uint64(0))) {
		k, _ = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, prefix) || len(k) != len(prefix)+8 {
		return 0
	}
	return beUint64(k[len(prefix):])
}

// logChange appends the incident to the change log with the next sequence
// number, in the same transaction as the change itself, and returns it.
// inc is the incident's new content (nil: deleted); once the transaction
// commits, Changes hands it out without reading it back.
func (s *DB) logChange(tx *bolt.Tx, key []byte, inc *app.Incident) (uint64, error) {
	b := bucket(tx, bucketChanges)
	// Sequence numbers only grow and are never deleted: full pages.
	b.FillPercent = 1
	seq, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	if err := b.Put(seqKey(seq), key); err != nil {
		return 0, err
	}
	tx.OnCommit(func() { s.recent.put(seq, key, inc) })
	return seq, nil
}
