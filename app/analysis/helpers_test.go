package analysis

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"cadbox/app"
	"cadbox/app/codec"
)

// memLog is an in-memory app.ChangeLog with the store's semantics.
type memLog struct {
	mu   sync.Mutex
	seq  uint64
	docs map[app.IncidentID]*app.Incident
	log  []app.Change // Seq and ID only
}

func newMemLog() *memLog { return &memLog{docs: map[app.IncidentID]*app.Incident{}} }

func (m *memLog) put(incs ...*app.Incident) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, inc := range incs {
		m.seq++
		m.docs[inc.ID()] = inc
		m.log = append(m.log, app.Change{Seq: m.seq, ID: inc.ID()})
	}
	return m.seq
}

func (m *memLog) del(id app.IncidentID) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	delete(m.docs, id)
	m.log = append(m.log, app.Change{Seq: m.seq, ID: id})
	return m.seq
}

func (m *memLog) Changes(ctx context.Context, after uint64, limit int) ([]app.Change, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []app.Change
	at := map[app.IncidentID]int{}
	for _, c := range m.log {
		if c.Seq <= after {
			continue
		}
		if len(out) >= limit {
			break
		}
		if i, ok := at[c.ID]; ok {
			out[i].Seq = c.Seq
			continue
		}
		at[c.ID] = len(out)
		out = append(out, app.Change{Seq: c.Seq, ID: c.ID})
	}
	for i := range out {
		out[i].Incident = m.docs[out[i].ID]
	}
	return out, nil
}

func (m *memLog) LastSeq(ctx context.Context) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seq, nil
}

func (m *memLog) Scan(ctx context.Context, fn func(*app.Incident) error) error {
	m.mu.Lock()
	ids := make([]app.IncidentID, 0, len(m.docs))
	for id := range m.docs {
		ids = append(ids, id)
	}
	docs := make([]*app.Incident, 0, len(ids))
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	for _, id := range ids {
		docs = append(docs, m.docs[id])
	}
	m.mu.Unlock()
	for _, d := range docs {
		if err := fn(d); err != nil {
			return err
		}
	}
	return nil
}

// newEngine builds an engine over incs.
func newEngine(tb testing.TB, cfg Config, incs ...*app.Incident) (*Engine, *memLog) {
	tb.Helper()
	ml := newMemLog()
	ml.put(incs...)
	e, err := New(ml, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := e.Build(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return e, ml
}

// parallelize makes the engine's scans use n goroutines however small
// its table.
func parallelize(e *Engine, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.t.forceWorkers = n
}

const samplesDir = "../../../shared/samples/incidents"

// sample decodes one real sample, skipping the test when the samples are
// absent.
func sample(tb testing.TB, name string) *app.Incident {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(samplesDir, name))
	if os.IsNotExist(err) {
		tb.Skipf("sample %s not present", name)
	}
	if err != nil {
		tb.Fatal(err)
	}
	inc, err := codec.DecodeIncident(b)
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return inc
}

// mk builds an incident from compact arguments: units are
// "ID/TYPE/STATION" with statuses as offsets in seconds from opened
// (key=offset pairs).
type unitSpec struct {
	id, typ, station, shift string
	st                      map[string]int
}

func mk(fd, num, tz string, opened time.Time, typ string, closedAfter int, units ...unitSpec) *app.Incident {
	inc := &app.Incident{
		FireDepartment: &app.FireDepartment{FDID: app.Ptr(fd)},
		Description: &app.Description{
			IncidentNumber: app.Ptr(num), EventOpened: app.NewTime(opened), Type: app.Ptr(typ),
		},
	}
	if tz != "" {
		inc.FireDepartment.Timezone = app.Ptr(tz)
	}
	if closedAfter >= 0 {
		inc.Description.EventClosed = app.NewTime(opened.Add(time.Duration(closedAfter) * time.Second))
	}
	for _, u := range units {
		a := &app.Apparatus{UnitID: app.Ptr(u.id), UnitStatus: map[string]*app.UnitStatus{}}
		if u.typ != "" {
			a.UnitType = app.Ptr(u.typ)
		}
		if u.station != "" {
			a.Station = app.Ptr(u.station)
		}
		if u.shift != "" {
			a.Shift = app.Ptr(u.shift)
		}
		for k, off := range u.st {
			a.UnitStatus[k] = &app.UnitStatus{Timestamp: app.NewTime(opened.Add(time.Duration(off) * time.Second))}
		}
		inc.Apparatus = append(inc.Apparatus, a)
	}
	return inc
}

// numpyPercentile is numpy.percentile(x, p) (method "linear"), written
// independently of Percentile.
func numpyPercentile(x []float64, p float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	idx := p / 100 * float64(len(s)-1)
	i := int(idx)
	if i >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[i] + (idx-float64(i))*(s[i+1]-s[i])
}
