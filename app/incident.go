// Package app holds cadbox's domain: the incident document in the
// NFORS/StatEngine shape, its identity, validation and merge rules, the
// errors the rest of the program speaks, and the interfaces that the store
// and the HTTP layer meet in. It imports only the standard library.
package app

import (
	"encoding/json"
	"time"
)

// Incident is one CAD incident document in the NFORS/StatEngine shape.
//
// Every known field is a pointer (or a nil-able slice or map) so that "absent"
// and "sent empty" stay distinguishable: merging an update never erases a
// value the update did not carry. Fields the structs do not know are kept in
// Extra (and in each nested struct's Extra) and written back unchanged, so
// nothing a department sends is dropped. A JSON null means "no value" and is
// not stored.
type Incident struct {
	Address        *Address        `json:"address,omitzero"`
	Apparatus      []*Apparatus    `json:"apparatus,omitzero"`
	Description    *Description    `json:"description,omitzero"`
	FireDepartment *FireDepartment `json:"fire_department,omitzero"`
	Version        *string         `json:"version,omitzero"`
	Weather        *Weather        `json:"weather,omitzero"`
	Durations      *Durations      `json:"durations,omitzero"`
	NFPA           *NFPA           `json:"NFPA,omitzero"`
	Validation     *Validation     `json:"validation,omitzero"`
	Extra          Extra           `json:",embed"`
}

// Extra holds the members of a JSON object that the typed structs do not
// know, verbatim.
type Extra map[string]json.RawMessage

// Address is where the incident happened.
type Address struct {
	AddressID                  *string   `json:"address_id,omitzero"`
	AddressLine1               *string   `json:"address_line1,omitzero"`
	Number                     *string   `json:"number,omitzero"`
	PrefixDirection            *string   `json:"prefix_direction,omitzero"`
	Name                       *string   `json:"name,omitzero"`
	Type                       *string   `json:"type,omitzero"`
	SuffixDirection            *string   `json:"suffix_direction,omitzero"`
	City                       *string   `json:"city,omitzero"`
	State                      *string   `json:"state,omitzero"`
	PostalCode                 *string   `json:"postal_code,omitzero"`
	CommonPlaceName            *string   `json:"common_place_name,omitzero"`
	CrossStreet1               *string   `json:"cross_street1,omitzero"`
	CrossStreet2               *string   `json:"cross_street2,omitzero"`
	FirstDue                   *string   `json:"first_due,omitzero"`
	ResponseZone               *string   `json:"response_zone,omitzero"`
	Battalion                  *string   `json:"battalion,omitzero"`
	Neighborhood               *string   `json:"neighborhood,omitzero"`
	PopulationDensity          *string   `json:"population_density,omitzero"`
	DistanceFromFireDepartment *float64  `json:"distance_from_fire_department,omitzero"`
	Latitude                   *float64  `json:"latitude,omitzero"`
	Longitude                  *float64  `json:"longitude,omitzero"`
	Geohash                    *string   `json:"geohash,omitzero"`
	Location                   *Location `json:"location,omitzero"`
	Extra                      Extra     `json:",embed"`
}

// Location is the enrichment StatEngine adds to an address.
type Location struct {
	Census          *Census `json:"census,omitzero"`
	Parcel          *Parcel `json:"parcel,omitzero"`
	CouncilDistrict *string `json:"council_district,omitzero"`
	Extra           Extra   `json:",embed"`
}

// Census identifies the census geography of an address.
type Census struct {
	Census2010 *CensusBlock `json:"census_2010,omitzero"`
	Extra      Extra        `json:",embed"`
}

// CensusBlock is one census block.
type CensusBlock struct {
	CensusID    *string `json:"census_id,omitzero"`
	Block       *string `json:"block,omitzero"`
	BlockGroup  *string `json:"block_group,omitzero"`
	Tract       *string `json:"tract,omitzero"`
	Description *string `json:"description,omitzero"`
	Extra       Extra   `json:",embed"`
}

// Parcel is the land parcel at an address.
type Parcel struct {
	ID            *string  `json:"id,omitzero"`
	Name          *string  `json:"name,omitzero"`
	LandUse       *string  `json:"land_use,omitzero"`
	LandArea      *float64 `json:"land_area,omitzero"`
	OwnerName     *string  `json:"owner_name,omitzero"`
	LandValue     *float64 `json:"land_value,omitzero"`
	DwellingValue *float64 `json:"dwelling_value,omitzero"`
	Extra         Extra    `json:",embed"`
}

// Apparatus is one unit's response to the incident. UnitID identifies it
// within the incident; updates are merged by it.
type Apparatus struct {
	UnitID       *string                `json:"unit_id,omitzero"`
	UnitType     *string                `json:"unit_type,omitzero"`
	CarID        *string                `json:"car_id,omitzero"`
	Station      *string                `json:"station,omitzero"`
	Shift        *string                `json:"shift,omitzero"`
	Geohash      *string                `json:"geohash,omitzero"`
	Distance     *float64               `json:"distance,omitzero"`
	FirstDue     *bool                  `json:"first_due,omitzero"`
	Personnel    []json.RawMessage      `json:"personnel,omitzero"`
	UnitStatus   map[string]*UnitStatus `json:"unit_status,omitzero"`
	ExtendedData *UnitExtendedData      `json:"extended_data,omitzero"`
	Extra        Extra                  `json:",embed"`
}

// UnitStatus is one status change of a unit (dispatched, enroute, arrived,
// cleared, available, acknowledged, or any key a CAD system uses, "~"
// included): when it happened and where the unit was.
type UnitStatus struct {
	Timestamp *Time    `json:"timestamp,omitzero"`
	Latitude  *float64 `json:"latitude,omitzero"`
	Longitude *float64 `json:"longitude,omitzero"`
	Geohash   *string  `json:"geohash,omitzero"`
	Order     *int64   `json:"order,omitzero"`
	Extra     Extra    `json:",embed"`
}

// UnitExtendedData are durations (seconds) a CAD export computed for a unit.
type UnitExtendedData struct {
	EventDuration    *float64 `json:"event_duration,omitzero"`
	ResponseDuration *float64 `json:"response_duration,omitzero"`
	TravelDuration   *float64 `json:"travel_duration,omitzero"`
	TurnoutDuration  *float64 `json:"turnout_duration,omitzero"`
	Extra            Extra    `json:",embed"`
}

// Description says what the incident is and when it happened.
type Description struct {
	IncidentNumber      *string           `json:"incident_number,omitzero"`
	EventID             *string           `json:"event_id,omitzero"`
	Type                *string           `json:"type,omitzero"`
	Subtype             *string           `json:"subtype,omitzero"`
	Category            *string           `json:"category,omitzero"`
	Priority            *string           `json:"priority,omitzero"`
	Alarms              *int64            `json:"alarms,omitzero"`
	Comments            *string           `json:"comments,omitzero"`
	EventOpened         *Time             `json:"event_opened,omitzero"`
	EventClosed         *Time             `json:"event_closed,omitzero"`
	PSAPAnswerTime      *Time             `json:"psap_answer_time,omitzero"`
	FirstUnitDispatched *Time             `json:"first_unit_dispatched,omitzero"`
	FirstUnitEnroute    *Time             `json:"first_unit_enroute,omitzero"`
	FirstUnitArrived    *Time             `json:"first_unit_arrived,omitzero"`
	LOISearchComplete   *Time             `json:"loi_search_complete,omitzero"`
	HourOfDay           *int64            `json:"hour_of_day,omitzero"`
	DayOfWeek           *string           `json:"day_of_week,omitzero"`
	Shift               *string           `json:"shift,omitzero"`
	Units               []string          `json:"units,omitzero"`
	Active              *bool             `json:"active,omitzero"`
	Suppressed          *bool             `json:"suppressed,omitzero"`
	ExtendedData        *DescExtendedData `json:"extended_data,omitzero"`
	Extra               Extra             `json:",embed"`
}

// DescExtendedData are durations (seconds) a CAD export or StatEngine
// computed for the incident.
type DescExtendedData struct {
	DispatchDuration              *float64 `json:"dispatch_duration,omitzero"`
	EventDuration                 *float64 `json:"event_duration,omitzero"`
	ResponseTime                  *float64 `json:"response_time,omitzero"`
	ResponseDuration              *float64 `json:"response_duration,omitzero"`
	PSAPAnswerTimeToEventCreation *float64 `json:"psap_answer_time_to_event_creation,omitzero"`
	PSAPAnswerTimeToFirstDispatch *float64 `json:"psap_answer_time_to_first_dispatch,omitzero"`
	PSAPAnswerTimeToFirstArrival  *float64 `json:"psap_answer_time_to_first_arrival,omitzero"`
	Extra                         Extra    `json:",embed"`
}

// FireDepartment identifies the department that owns the incident.
type FireDepartment struct {
	FDID        *string `json:"fd_id,omitzero"`
	FirecaresID *string `json:"firecares_id,omitzero"`
	Name        *string `json:"name,omitzero"`
	State       *string `json:"state,omitzero"`
	Shift       *string `json:"shift,omitzero"`
	Timezone    *string `json:"timezone,omitzero"`
	Extra       Extra   `json:",embed"`
}

// Weather is third-party weather enrichment (DarkSky-style). Its members vary
// by provider, so they are kept verbatim rather than typed.
type Weather struct {
	Currently Extra `json:"currently,omitzero"`
	Daily     Extra `json:"daily,omitzero"`
	Extra     Extra `json:",embed"`
}

// Durations are StatEngine's precomputed incident durations.
type Durations struct {
	AlarmAnswer     *Duration `json:"alarm_answer,omitzero"`
	AlarmProcessing *Duration `json:"alarm_processing,omitzero"`
	AlarmHandling   *Duration `json:"alarm_handling,omitzero"`
	Turnout         *Duration `json:"turnout,omitzero"`
	Travel          *Duration `json:"travel,omitzero"`
	TotalResponse   *Duration `json:"total_response,omitzero"`
	TotalEvent      *Duration `json:"total_event,omitzero"`
	Extra           Extra     `json:",embed"`
}

// Duration is one precomputed duration.
type Duration struct {
	Seconds *float64 `json:"seconds,omitzero"`
	Minutes *float64 `json:"minutes,omitzero"`
	Extra   Extra    `json:",embed"`
}

// NFPA holds StatEngine's precomputed NFPA 1710 figures.
type NFPA struct {
	AlarmAnsweringDurationSeconds    *float64  `json:"alarm_answering_duration_seconds,omitzero"`
	AlarmProcessingDurationSeconds   *float64  `json:"alarm_processing_duration_seconds,omitzero"`
	TurnoutDurationsSeconds          []float64 `json:"turnout_durations_seconds,omitzero"`
	FirstEngineTravelDurationSeconds *float64  `json:"first_engine_travel_duration_seconds,omitzero"`
	Type                             *string   `json:"type,omitzero"`
	Extra                            Extra     `json:",embed"`
}

// Validation is StatEngine's schema-validation verdict on the document.
type Validation struct {
	Valid      *bool   `json:"valid,omitzero"`
	ErrorsText *string `json:"errorsText,omitzero"`
	Extra      Extra   `json:",embed"`
}

// Time is an RFC 3339 timestamp that remembers the exact text it was sent
// as, so a stored document reads back as it was written.
type Time struct {
	t   time.Time
	raw string
}

// NewTime returns t as a Time written in RFC 3339 with t's own offset.
func NewTime(t time.Time) *Time {
	return &Time{t: t, raw: t.Format(time.RFC3339)}
}

// ParseTime parses an RFC 3339 timestamp.
func ParseTime(s string) (*Time, error) {
	var t Time
	if err := t.UnmarshalText([]byte(s)); err != nil {
		return nil, err
	}
	return &t, nil
}

// Time returns the instant.
func (t *Time) Time() time.Time { return t.t }

// String returns the text the timestamp was sent as.
func (t *Time) String() string { return t.raw }

// MarshalText writes the timestamp as it was sent.
func (t Time) MarshalText() ([]byte, error) { return []byte(t.raw), nil }

// UnmarshalText parses an RFC 3339 timestamp (for example
// 2017-05-15T13:19:12-04:00).
func (t *Time) UnmarshalText(b []byte) error {
	s := string(b)
	p, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return errNotRFC3339
	}
	t.t, t.raw = p, s
	return nil
}

// IncidentID identifies an incident: a department's fd_id and the
// department's own incident number.
type IncidentID struct {
	Department string `json:"fd_id"`
	Number     string `json:"incident_number"`
}

// String formats the id as "fd_id/incident_number".
func (id IncidentID) String() string { return id.Department + "/" + id.Number }

// ID returns the incident's identity. Call it only on a validated incident.
func (inc *Incident) ID() IncidentID {
	var id IncidentID
	if inc.FireDepartment != nil && inc.FireDepartment.FDID != nil {
		id.Department = *inc.FireDepartment.FDID
	}
	if inc.Description != nil && inc.Description.IncidentNumber != nil {
		id.Number = *inc.Description.IncidentNumber
	}
	return id
}

// Opened returns description.event_opened, or the zero time.
func (inc *Incident) Opened() time.Time {
	if inc.Description == nil || inc.Description.EventOpened == nil {
		return time.Time{}
	}
	return inc.Description.EventOpened.t
}

// Val returns *p, or the zero value when p is nil.
func Val[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// Ptr returns a pointer to v.
func Ptr[T any](v T) *T { return &v }
