package app

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrNoTimezone is returned by Zones.Get for an empty time-zone name.
var ErrNoTimezone = errors.New("no time zone")

// Zones loads each IANA time zone once: time.LoadLocation reads the zone
// database on every call, and every incident names its department's zone.
// Only zones that load are kept, so names sent in documents cannot grow
// it beyond the zone database. Safe for concurrent use.
type Zones struct {
	mu sync.Mutex
	m  map[string]*time.Location
}

// NewZones returns an empty cache.
func NewZones() *Zones { return &Zones{m: map[string]*time.Location{}} }

// Get returns the zone named name, or UTC and an error (ErrNoTimezone
// for an empty name) when there is no such zone.
func (z *Zones) Get(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, ErrNoTimezone
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if loc, ok := z.m[name]; ok {
		return loc, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC, fmt.Errorf("time zone %q: %w", name, err)
	}
	z.m[name] = loc
	return loc, nil
}
