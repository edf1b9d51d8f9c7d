package analysis

import (
	"errors"
	"time"

	"cadbox/app"
)

// zoneCache is app.Zones with the note an analyst reads when a zone is
// missing or unknown.
type zoneCache struct{ z *app.Zones }

func newZoneCache() *zoneCache { return &zoneCache{z: app.NewZones()} }

// get returns the location named name, or UTC with a note saying why.
func (z *zoneCache) get(name string) (*time.Location, string) {
	loc, err := z.z.Get(name)
	switch {
	case errors.Is(err, app.ErrNoTimezone):
		return loc, "fire_department.timezone is missing; UTC is used"
	case err != nil:
		return loc, "fire_department.timezone " + name + " is unknown; UTC is used"
	}
	return loc, ""
}
