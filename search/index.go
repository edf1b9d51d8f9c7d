// Package search keeps a bleve full-text index of incidents. The index is
// derived state: bbolt is the truth, and the index follows the store's
// change log. Every batch the index applies records, in the same bleve
// batch, the last change sequence number it covers, so after a crash it
// replays exactly what it missed. An index that is missing, unreadable or
// built with another mapping version is rebuilt from the store.
package search

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"cadbox/app"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
)

// Internal keys kept in the index.
var (
	keySeq     = []byte("cadbox.seq")
	keyMapping = []byte("cadbox.mapping")
)

// batchSize is how many changes one bleve batch applies.
const batchSize = 1000

// Index is the search index. It implements app.Follower and
// app.IncidentIndex.
type Index struct {
	idx  bleve.Index
	log  app.ChangeLog
	lg   *slog.Logger
	path string
	// zones caches the departments' time zones for project.
	zones *app.Zones

	mu         sync.Mutex    // guards the fields below
	applied    uint64        // last change sequence in the index
	advanced   chan struct{} // closed and replaced whenever applied grows
	err        error         // last apply error, cleared by a success
	rebuilding bool          // a rebuild from the store is under way
	progress   [2]int        // rebuild: incidents done, total
	// caughtUp is set once the index has been seen current with the
	// store (since Open); progressed is when it last was, or when an
	// apply last succeeded.
	caughtUp   bool
	progressed time.Time

	kick chan struct{}
	done chan struct{}
	stop context.CancelFunc
}

var (
	_ app.Follower      = (*Index)(nil)
	_ app.IncidentIndex = (*Index)(nil)
)

// Options tune Open.
type Options struct {
	Logger *slog.Logger
	// Progress, when set, is told how many incidents a rebuild has
	// indexed so far, and the total.
	Progress func(done, total int)
	// SyncRebuildMax is the largest store whose index Open rebuilds
	// before returning; larger ones are rebuilt in the background.
	// 0 means 10,000; a negative value always rebuilds in the background.
	SyncRebuildMax int
}

// Open opens the index at path and starts the goroutine that keeps it up
// to date. When the index is missing, unreadable or of another mapping
// version it is rebuilt from the store in that goroutine: Open returns at
// once, Ready reports the progress and searches answer EUNAVAILABLE until
// the rebuild is done.
func Open(ctx context.Context, path string, log app.ChangeLog, opts Options) (*Index, error) {
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	ix := &Index{log: log, lg: lg, path: path, zones: app.NewZones(), advanced: make(chan struct{}), kick: make(chan struct{}, 1), done: make(chan struct{})}
	idx, applied, err := openExisting(path)
	rebuild := err != nil
	if rebuild {
		lg.Warn("search index will be rebuilt from the store", slog.String("path", path), slog.String("reason", err.Error()))
		if idx, err = create(path); err != nil {
			return nil, err
		}
		ix.idx = idx
		// A small store is indexed before Open returns, so a new
		// appliance is searchable from its first request; a large one in
		// the background, with /readyz reporting progress.
		limit := opts.SyncRebuildMax
		if limit == 0 {
			limit = syncRebuildMax
		}
		if n, err := count(ctx, log); err == nil && n <= limit {
			if applied, err = ix.rebuild(ctx, opts.Progress); err != nil {
				idx.Close()
				return nil, err
			}
			rebuild = false
		} else {
			ix.rebuilding = true
		}
	}
	ix.idx, ix.applied = idx, applied
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ix.stop = cancel
	go func() {
		if rebuild {
			seq, err := ix.rebuild(rctx, func(done, total int) {
				ix.mu.Lock()
				ix.progress = [2]int{done, total}
				ix.mu.Unlock()
				if opts.Progress != nil {
					opts.Progress(done, total)
				}
			})
			ix.mu.Lock()
			ix.rebuilding, ix.err = false, err
			if err == nil {
				ix.applied = seq
			}
			ix.mu.Unlock()
			if err != nil {
				lg.Error("search index rebuild failed", slog.Any("error", err))
				close(ix.done)
				return
			}
		}
		ix.run(rctx)
	}()
	ix.Kick()
	return ix, nil
}

// syncRebuildMax is the largest store Open rebuilds the index of before
// returning (about ten seconds of indexing).
const syncRebuildMax = 10000

func count(ctx context.Context, log app.ChangeLog) (int, error) {
	c, ok := log.(interface {
		Count(context.Context) (int, error)
	})
	if !ok {
		return 0, errors.New("store cannot count")
	}
	return c.Count(ctx)
}

// Rebuild builds the index at path from the store, replacing what is
// there, and returns when it is done (cadbox reindex).
func Rebuild(ctx context.Context, path string, log app.ChangeLog, progress func(done, total int)) (int, error) {
	idx, err := create(path)
	if err != nil {
		return 0, err
	}
	ix := &Index{idx: idx, log: log, lg: slog.New(slog.DiscardHandler), path: path, zones: app.NewZones()}
	var n int
	_, err = ix.rebuild(ctx, func(done, total int) {
		n = done
		if progress != nil {
			progress(done, total)
		}
	})
	// The batches are searchable, not yet all on disk (scorchConfig),
	// and the last one carries the sequence: wait for every one, or the
	// next start would find no sequence and rebuild again.
	if err == nil && !ix.awaitPersisted(ctx, 0) {
		err = fmt.Errorf("rebuild: waiting for the index to reach the disk: %w", context.Cause(ctx))
	}
	if cerr := idx.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// openExisting opens an index that exists and matches the mapping.
func openExisting(path string) (bleve.Index, uint64, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, 0, fmt.Errorf("no index: %w", err)
	}
	idx, err := bleve.OpenUsing(path, scorchConfig())
	if err != nil {
		return nil, 0, fmt.Errorf("open: %w", err)
	}
	v, err := idx.GetInternal(keyMapping)
	if err != nil || string(v) != mappingVersion {
		idx.Close()
		return nil, 0, fmt.Errorf("mapping version %q, want %q", v, mappingVersion)
	}
	s, err := idx.GetInternal(keySeq)
	if err != nil {
		idx.Close()
		return nil, 0, fmt.Errorf("read sequence: %w", err)
	}
	seq, err := strconv.ParseUint(string(s), 10, 64)
	if err != nil {
		idx.Close()
		return nil, 0, fmt.Errorf("bad sequence %q", s)
	}
	return idx, seq, nil
}

// scorchConfig: a batch returns once it is searchable, without waiting
// for scorch to write it to disk. The index is derived state and records
// the change sequence it covers in the same batch, so an index that loses
// its newest batches in a crash reopens at an older sequence and replays
// the rest from the store. Scorch meanwhile merges the in-memory segments
// of several batches before writing them, which is most of the gain.
func scorchConfig() map[string]any {
	return map[string]any{"unsafe_batch": true}
}

func create(path string) (bleve.Index, error) {
	if err := os.RemoveAll(path); err != nil {
		return nil, fmt.Errorf("remove old index: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create index dir: %w", err)
	}
	m, err := newMapping()
	if err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	idx, err := bleve.NewUsing(path, m, scorch.Name, scorch.Name, scorchConfig())
	if err != nil {
		return nil, fmt.Errorf("create index: %w", err)
	}
	return idx, nil
}

// rebuild indexes every stored incident. It notes the store's last
// sequence first: changes after it are replayed by run, and replaying a
// change the scan already saw is harmless.
func (ix *Index) rebuild(ctx context.Context, progress func(done, total int)) (uint64, error) {
	start := time.Now()
	seq, err := ix.log.LastSeq(ctx)
	if err != nil {
		return 0, err
	}
	total := -1
	if c, ok := ix.log.(interface {
		Count(context.Context) (int, error)
	}); ok {
		total, _ = c.Count(ctx)
	}
	b := ix.idx.NewBatch()
	n := 0
	flush := func() error {
		if err := ix.idx.Batch(b); err != nil {
			return fmt.Errorf("index batch: %w", err)
		}
		b.Reset()
		if progress != nil {
			progress(n, total)
		}
		return nil
	}
	err = ix.log.Scan(ctx, func(inc *app.Incident) error {
		if err := b.Index(docID(inc.ID()), project(inc, ix.zones)); err != nil {
			return err
		}
		n++
		if b.Size() >= batchSize {
			return flush()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("rebuild: %w", err)
	}
	b.SetInternal(keyMapping, []byte(mappingVersion))
	b.SetInternal(keySeq, []byte(strconv.FormatUint(seq, 10)))
	if err := flush(); err != nil {
		return 0, err
	}
	ix.lg.Info("search index rebuilt", slog.Int("incidents", n), slog.Duration("took", time.Since(start)))
	return seq, nil
}

// Close stops following the store, waits (a bounded time) until scorch
// has written every applied batch to disk, and closes the index. Batches
// are searchable before they are on disk (scorchConfig) and scorch's own
// Close does not write what is still in memory; without the wait a clean
// restart would replay the newest batches from the store.
func (ix *Index) Close() error {
	ix.stop()
	<-ix.done
	ix.awaitPersisted(context.Background(), closePersistWait)
	return ix.idx.Close()
}

// closePersistWait bounds how long Close waits for scorch to persist.
const closePersistWait = 10 * time.Second

// awaitPersisted waits until scorch has written the index as it is now
// (its current root snapshot) to disk, or until timeout (0: none) or ctx
// ends, and reports whether it was written. For a serving index a
// timeout costs a replay at the next start, nothing more.
func (ix *Index) awaitPersisted(ctx context.Context, timeout time.Duration) bool {
	epochs := func() (root, persisted uint64, ok bool) {
		st, _ := ix.idx.StatsMap()["index"].(map[string]any)
		root, ok1 := st["CurRootEpoch"].(uint64)
		persisted, ok2 := st["LastPersistedEpoch"].(uint64)
		return root, persisted, ok1 && ok2
	}
	target, _, ok := epochs()
	if !ok {
		return false
	}
	deadline := time.Now().Add(timeout)
	for {
		if _, persisted, _ := epochs(); persisted >= target {
			return true
		}
		if ctx.Err() != nil || timeout > 0 && time.Now().After(deadline) {
			ix.lg.Warn("search index: closing with batches not yet on disk; they are replayed from the store at the next start")
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Name implements app.Follower.
func (ix *Index) Name() string { return "search" }

// Notify implements app.Notifier: it asks the index to catch up soon,
// without waiting.
func (ix *Index) Notify(uint64) { ix.Kick() }

// Kick asks the index to catch up soon, without waiting.
func (ix *Index) Kick() {
	select {
	case ix.kick <- struct{}{}:
	default:
	}
}

// CatchUp waits until the index has applied the change log up to seq.
func (ix *Index) CatchUp(ctx context.Context, seq uint64) error {
	for {
		ix.mu.Lock()
		applied, adv, err, rebuilding := ix.applied, ix.advanced, ix.err, ix.rebuilding
		ix.mu.Unlock()
		if applied >= seq {
			return nil
		}
		if rebuilding {
			// The write is durable; the rebuild (which started before
			// it) is followed by a replay that picks it up.
			return fmt.Errorf("search index: %w (rebuilding)", app.ErrBehind)
		}
		ix.Kick()
		select {
		case <-adv:
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("search index behind (%w): %w", err, ctx.Err())
			}
			return ctx.Err()
		case <-ix.done:
			return errors.New("search index closed")
		case <-time.After(time.Second):
			// A failing apply does not advance; give up after a while
			// instead of waiting forever.
			if err != nil {
				return fmt.Errorf("search index: %w", err)
			}
		}
	}
}

// Applied returns the last change sequence the index holds.
func (ix *Index) Applied() uint64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.applied
}

// Ready returns nil once the index has caught up with the store.
func (ix *Index) Ready(ctx context.Context) error {
	ix.mu.Lock()
	rebuilding, progress, err := ix.rebuilding, ix.progress, ix.err
	ix.mu.Unlock()
	if rebuilding {
		if progress[1] > 0 {
			return fmt.Errorf("%w: rebuilding the search index, %d of %d incidents", app.ErrBehind, progress[0], progress[1])
		}
		return fmt.Errorf("%w: rebuilding the search index, %d incidents so far", app.ErrBehind, progress[0])
	}
	last, lerr := ix.log.LastSeq(ctx)
	if lerr != nil {
		return lerr
	}
	ix.mu.Lock()
	applied, caughtUp, progressed := ix.applied, ix.caughtUp, ix.progressed
	ix.mu.Unlock()
	lag := app.Lag(applied, last)
	switch {
	case lag == nil:
		ix.mu.Lock()
		ix.caughtUp, ix.progressed = true, time.Now()
		ix.mu.Unlock()
		return nil
	case err != nil:
		return fmt.Errorf("%w; last error: %w", lag, err)
	case caughtUp && time.Since(progressed) < readyStall:
		// Writes in flight: the index is a few changes behind while it
		// works through them. That is a busy server, not an unready one.
		return nil
	}
	return lag
}

// readyStall is how long, after its first catch-up, the index may be
// behind the store without applying anything before Ready fails.
const readyStall = 30 * time.Second

// available returns an error while searches cannot be answered.
func (ix *Index) available() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.rebuilding {
		return &app.Error{Code: app.EUNAVAILABLE, Message: fmt.Sprintf("The search index is being rebuilt from the store (%d incidents so far); try again shortly.", ix.progress[0])}
	}
	return nil
}

// run applies the change log whenever kicked (and every few seconds, in
// case a kick was missed) until ctx ends. Concurrent writers' changes are
// applied together: one bleve batch per round.
func (ix *Index) run(ctx context.Context) {
	defer close(ix.done)
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ix.kick:
		case <-tick.C:
		}
		for {
			n, err := ix.applyOnce(ctx)
			if err == nil {
				ix.mu.Lock()
				ix.progressed = time.Now()
				if n == 0 {
					ix.caughtUp = true
				}
				ix.mu.Unlock()
			}
			if err != nil {
				ix.mu.Lock()
				ix.err = err
				ix.mu.Unlock()
				ix.lg.Error("search index apply failed", slog.Any("error", err))
				break
			}
			if n == 0 {
				break
			}
		}
	}
}

// applyOnce applies the next changes; it returns how many. A panic in
// the index library (seen after it failed to persist a segment on a full
// disk) becomes an error: the server keeps serving from the store, and
// /readyz reports the index as failing.
func (ix *Index) applyOnce(ctx context.Context) (n int, err error) {
	defer func() {
		if p := recover(); p != nil {
			n, err = 0, fmt.Errorf("search index: panic applying changes: %v", p)
		}
	}()
	ix.mu.Lock()
	after := ix.applied
	ix.mu.Unlock()
	changes, err := ix.log.Changes(ctx, after, batchSize)
	if err != nil || len(changes) == 0 {
		return 0, err
	}
	b := ix.idx.NewBatch()
	var seq uint64
	for _, c := range changes {
		seq = max(seq, c.Seq)
		if c.Incident == nil {
			b.Delete(docID(c.ID))
			continue
		}
		if err := b.Index(docID(c.ID), project(c.Incident, ix.zones)); err != nil {
			return 0, fmt.Errorf("index %s: %w", c.ID, err)
		}
	}
	b.SetInternal(keySeq, []byte(strconv.FormatUint(seq, 10)))
	if err := ix.idx.Batch(b); err != nil {
		return 0, fmt.Errorf("index batch: %w", err)
	}
	ix.mu.Lock()
	ix.applied, ix.err = seq, nil
	close(ix.advanced)
	ix.advanced = make(chan struct{})
	ix.mu.Unlock()
	return len(changes), nil
}

// DocCount returns how many incidents the index holds.
func (ix *Index) DocCount() (uint64, error) { return ix.idx.DocCount() }

// Size returns the bytes the index takes on disk.
func (ix *Index) Size() int64 {
	var n int64
	_ = filepath.Walk(ix.path, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
