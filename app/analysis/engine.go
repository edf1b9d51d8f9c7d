package analysis

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"cadbox/app"
)

// changeBatch is how many changes CatchUp reads at a time.
const changeBatch = 1000

// Engine keeps the analysis tables of every stored incident and answers
// aggregate queries from them. It follows the store's change log (it is
// an app.Follower) and is safe for concurrent queries and catch-ups.
type Engine struct {
	log app.ChangeLog
	cfg Config
	cp  computer

	// catchMu serializes Build and CatchUp (the appliers).
	catchMu sync.Mutex
	// mu guards t, applied and built: queries read-lock it, appliers
	// write-lock it only to swap in computed rows.
	mu      sync.RWMutex
	t       *table
	applied uint64
	built   bool
	// scanned counts incidents read by a running Build.
	scanned atomic.Int64

	concMu sync.Mutex
	conc   concCache
}

// New returns an engine that follows log. Call Build to load the store.
func New(log app.ChangeLog, cfg Config) (*Engine, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Engine{log: log, cfg: c}
	e.cp = computer{cfg: &e.cfg, zones: newZoneCache()}
	e.t = newTable(maphash.MakeSeed())
	return e, nil
}

// Config returns the engine's configuration, defaults filled in.
func (e *Engine) Config() Config { return e.cfg }

// Name implements app.Follower.
func (e *Engine) Name() string { return "analysis" }

// Build loads every stored incident (ChangeLog.Scan), then applies the
// changes written meanwhile. Until it returns, Ready reports the progress
// and queries answer EUNAVAILABLE. Writes made during the build are picked
// up by its final catch-up.
func (e *Engine) Build(ctx context.Context) error {
	e.catchMu.Lock()
	last, err := e.log.LastSeq(ctx)
	if err != nil {
		e.catchMu.Unlock()
		return fmt.Errorf("analysis build: %w", err)
	}
	t := newTable(maphash.MakeSeed())
	e.scanned.Store(0)
	err = e.log.Scan(ctx, func(inc *app.Incident) error {
		im := e.cp.compute(inc)
		loc, _ := e.cp.zones.get(im.Timezone)
		t.put(im, loc)
		e.scanned.Add(1)
		return nil
	})
	if err != nil {
		e.catchMu.Unlock()
		return fmt.Errorf("analysis build: %w", err)
	}
	e.mu.Lock()
	e.t, e.applied, e.built = t, last, true
	e.mu.Unlock()
	err = e.catchUpLocked(ctx)
	e.catchMu.Unlock()
	return err
}

// CatchUp implements app.Follower: it applies the change log at least up
// to seq (an update replaces the incident's rows, a deletion removes
// them).
func (e *Engine) CatchUp(ctx context.Context, seq uint64) error {
	e.mu.RLock()
	built, applied := e.built, e.applied
	e.mu.RUnlock()
	if !built {
		// The write is durable; the running build picks it up.
		return fmt.Errorf("analysis: %w (building)", app.ErrBehind)
	}
	if applied >= seq {
		return nil
	}
	e.catchMu.Lock()
	defer e.catchMu.Unlock()
	return e.catchUpLocked(ctx)
}

// catchUpLocked applies every change after e.applied. e.catchMu is held.
func (e *Engine) catchUpLocked(ctx context.Context) error {
	for {
		e.mu.RLock()
		after := e.applied
		e.mu.RUnlock()
		changes, err := e.log.Changes(ctx, after, changeBatch)
		if err != nil {
			return fmt.Errorf("analysis catch-up after %d: %w", after, err)
		}
		if len(changes) == 0 {
			return nil
		}
		// Compute outside the lock; queries go on meanwhile.
		ims := make([]*IncidentMetrics, len(changes))
		for i, ch := range changes {
			if ch.Incident != nil {
				ims[i] = e.cp.compute(ch.Incident)
			}
		}
		e.mu.Lock()
		for i, ch := range changes {
			if ims[i] == nil {
				e.t.remove(ch.ID)
			} else {
				loc, _ := e.cp.zones.get(ims[i].Timezone)
				e.t.put(ims[i], loc)
			}
			e.applied = max(e.applied, ch.Seq)
		}
		if e.t.needsCompaction() {
			e.t = e.t.compacted()
		}
		e.mu.Unlock()
	}
}

// Ready returns nil once the engine is built and has applied every
// change in the log (app.Lag otherwise).
func (e *Engine) Ready(ctx context.Context) error {
	e.mu.RLock()
	built, applied := e.built, e.applied
	e.mu.RUnlock()
	if !built {
		return fmt.Errorf("%w: building the analysis tables, %d incidents so far", app.ErrBehind, e.scanned.Load())
	}
	last, err := e.log.LastSeq(ctx)
	if err != nil {
		return fmt.Errorf("analysis readiness: %w", err)
	}
	return app.Lag(applied, last)
}

// Applied returns the last change-log sequence number the tables hold.
func (e *Engine) Applied() uint64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.applied
}

// Metrics computes every metric of one incident with the engine's
// configuration (it does not read the tables).
func (e *Engine) Metrics(inc *app.Incident) *IncidentMetrics { return e.cp.compute(inc) }

// Size describes the tables.
type Size struct {
	// Incidents and UnitResponses are the live rows.
	Incidents, UnitResponses int
	// DeadIncidents and DeadUnitResponses are rows of deleted or
	// replaced incidents not yet compacted away.
	DeadIncidents, DeadUnitResponses int
	// Bytes is the memory the columns, dictionaries and id index take
	// (an estimate from their sizes).
	Bytes int64
}

// Size returns the tables' row counts and memory.
func (e *Engine) Size() Size {
	e.mu.RLock()
	defer e.mu.RUnlock()
	t := e.t
	inc, units := t.live()
	return Size{Incidents: inc, UnitResponses: units, DeadIncidents: t.deadInc, DeadUnitResponses: t.deadUnit, Bytes: t.bytes()}
}

// view runs fn with the table read-locked, or returns EUNAVAILABLE while
// the engine is building.
func (e *Engine) view(fn func(t *table) error) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if !e.built {
		return app.Errorf(app.EUNAVAILABLE, "The analysis tables are being built (%d incidents so far); try again shortly.", e.scanned.Load())
	}
	return fn(e.t)
}
