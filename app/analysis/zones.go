package analysis

import (
	"sync"
	"time"
)

// zoneCache loads each time zone once (time.LoadLocation reads the zone
// database on every call).
type zoneCache struct {
	mu sync.Mutex
	m  map[string]zoneEntry
}

type zoneEntry struct {
	loc  *time.Location
	note string
}

func newZoneCache() *zoneCache { return &zoneCache{m: map[string]zoneEntry{}} }

// get returns the location named name, or UTC with a note saying why.
func (z *zoneCache) get(name string) (*time.Location, string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if e, ok := z.m[name]; ok {
		return e.loc, e.note
	}
	var e zoneEntry
	switch loc, err := time.LoadLocation(name); {
	case name == "":
		e = zoneEntry{time.UTC, "fire_department.timezone is missing; UTC is used"}
	case err != nil:
		e = zoneEntry{time.UTC, "fire_department.timezone " + name + " is unknown; UTC is used"}
	default:
		e = zoneEntry{loc, ""}
	}
	z.m[name] = e
	return e.loc, e.note
}
