package store

import (
	"sync"

	"cadbox/app"
)

// recentChanges is how many committed changes the store keeps in memory
// for Changes. The search index and the analysis engine read the change
// log right after each commit, in batches of up to 1,000, and bulk
// uploads arrive 1,000 documents a request, two in flight: with two
// batches kept, a consumer that keeps up never reads an incident back
// from disk (decompressing and decoding it again cost ~9% of the CPU of a
// bulk ingest with search on). One that falls further behind reads from
// disk. 4,096 was no faster and raised the peak RSS of a 24,000-incident
// ingest from 259 to ~300 MiB.
const recentChanges = 2048

// recent holds the incidents the latest commits wrote, by change
// sequence: what Changes would otherwise read back and decode. Entries
// are added only once their transaction has committed (bbolt's OnCommit),
// so a sequence number that a failed transaction used, and a later one
// reuses, never maps to content that is not on disk.
type recent struct {
	mu   sync.Mutex
	byID map[uint64]recentEntry
	ring [recentChanges]uint64 // sequence numbers, oldest overwritten first
	next int
}

type recentEntry struct {
	key []byte        // incident key
	inc *app.Incident // nil: deleted
}

func newRecent() *recent {
	return &recent{byID: make(map[uint64]recentEntry, recentChanges)}
}

// put records the content committed at seq. The store does not modify an
// incident once it is written, and readers of Changes must not either.
func (r *recent) put(seq uint64, key []byte, inc *app.Incident) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.ring[r.next]; old != 0 {
		delete(r.byID, old)
	}
	r.ring[r.next] = seq
	r.next = (r.next + 1) % len(r.ring)
	r.byID[seq] = recentEntry{key: key, inc: inc}
}

// get returns the content committed at seq for the incident key, if it
// is still held.
func (r *recent) get(seq uint64, key []byte) (inc *app.Incident, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.byID[seq]
	if !ok || string(e.key) != string(key) {
		return nil, false
	}
	return e.inc, true
}
