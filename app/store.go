package app

import (
	"context"
	"strconv"
	"time"
)

// WriteStatus says what a write did.
type WriteStatus string

// Write outcomes.
const (
	StatusCreated   WriteStatus = "created"
	StatusUpdated   WriteStatus = "updated"
	StatusUnchanged WriteStatus = "unchanged"
	StatusDeleted   WriteStatus = "deleted"
	StatusFailed    WriteStatus = "failed"
)

// WriteOptions qualify a write.
type WriteOptions struct {
	// IfMatch, when set, is the ETag the stored incident must have
	// (optimistic concurrency); "*" means "must exist".
	IfMatch string
	// Source records who or what made the write (for example an API key's
	// id); it is kept with the revision.
	Source string
	// Atomic makes a bulk write all-or-nothing.
	Atomic bool
	// DeferFollow returns as soon as the store has committed, without
	// waiting for derived state (the search index) to catch up; the
	// caller must call Service.Sync with the highest Seq before it
	// answers. Bulk uploads use it so indexing overlaps the next batch.
	DeferFollow bool
}

// WriteResult is the outcome of writing one incident.
type WriteResult struct {
	ID       IncidentID
	Status   WriteStatus
	Revision uint64
	Modified time.Time
	// Seq is the change-log sequence number of the write (0 if it changed
	// nothing).
	Seq uint64
	// Err is set when Status is StatusFailed.
	Err error
}

// ETag returns the strong entity tag of the version the write left.
func (r WriteResult) ETag() string { return ETag(r.Revision) }

// ETag formats a revision number as a strong entity tag.
func ETag(rev uint64) string { return `"` + strconv.FormatUint(rev, 10) + `"` }

// StoredIncident is an incident as stored, with its version metadata.
type StoredIncident struct {
	Incident *Incident
	Revision uint64
	Modified time.Time
}

// RevisionAction says what a revision did to its incident.
type RevisionAction string

// Revision actions.
const (
	ActionCreated  RevisionAction = "created"
	ActionUpdated  RevisionAction = "updated"
	ActionReplaced RevisionAction = "replaced"
	ActionDeleted  RevisionAction = "deleted"
)

// Revision is one accepted version of an incident.
type Revision struct {
	Number     uint64         `json:"revision"`
	Action     RevisionAction `json:"action"`
	ReceivedAt time.Time      `json:"received_at"`
	Source     string         `json:"source,omitempty"`
}

// IncidentFilter selects incidents for a time-ordered listing, newest
// event_opened first.
type IncidentFilter struct {
	// Departments, when not empty, is the set of fd_ids the caller may
	// see (an API key's scope); Department narrows further.
	Departments []string
	Department  string
	From, To    time.Time // event_opened in [From, To); zero means unbounded
	Type        string
	Subtype     string
	UnitID      string
	Station     string
	Limit       int
	Cursor      string
}

// IncidentSummary is an incident's row in a listing: enough to show and
// filter it without reading the whole document.
type IncidentSummary struct {
	ID        IncidentID `json:"id"`
	Opened    time.Time  `json:"event_opened"`
	Closed    *time.Time `json:"event_closed,omitempty"`
	Type      string     `json:"type,omitempty"`
	Subtype   string     `json:"subtype,omitempty"`
	Address   string     `json:"address,omitempty"`
	City      string     `json:"city,omitempty"`
	Latitude  *float64   `json:"latitude,omitempty"`
	Longitude *float64   `json:"longitude,omitempty"`
	Units     []string   `json:"units,omitempty"`
	Stations  []string   `json:"stations,omitempty"`
}

// Summary returns the incident's listing row.
func (inc *Incident) Summary() IncidentSummary {
	s := IncidentSummary{ID: inc.ID(), Opened: inc.Opened()}
	if d := inc.Description; d != nil {
		if d.EventClosed != nil {
			t := d.EventClosed.Time()
			s.Closed = &t
		}
		s.Type, s.Subtype = Val(d.Type), Val(d.Subtype)
	}
	if a := inc.Address; a != nil {
		s.Address, s.City, s.Latitude, s.Longitude = Val(a.AddressLine1), Val(a.City), a.Latitude, a.Longitude
	}
	for _, u := range inc.Apparatus {
		s.Units = append(s.Units, Val(u.UnitID))
		if st := Val(u.Station); st != "" && !contains(s.Stations, st) {
			s.Stations = append(s.Stations, st)
		}
	}
	return s
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Matches reports whether the summary passes the filter's field tests
// (department, type, subtype, unit, station, time range).
func (s *IncidentSummary) Matches(f IncidentFilter) bool {
	switch {
	case f.Department != "" && s.ID.Department != f.Department,
		len(f.Departments) > 0 && !contains(f.Departments, s.ID.Department),
		f.Type != "" && s.Type != f.Type,
		f.Subtype != "" && s.Subtype != f.Subtype,
		f.UnitID != "" && !contains(s.Units, f.UnitID),
		f.Station != "" && !contains(s.Stations, f.Station),
		!f.From.IsZero() && s.Opened.Before(f.From),
		!f.To.IsZero() && !s.Opened.Before(f.To):
		return false
	}
	return true
}

// IncidentPage is one page of a listing. Next is empty on the last page.
type IncidentPage struct {
	Incidents []IncidentSummary
	Next      string
}

// UnitResponseFilter selects unit responses across incidents, newest first.
// At least one of UnitID and Station is set.
type UnitResponseFilter struct {
	// Departments, when not empty, is the set of fd_ids the caller may see.
	Departments []string
	UnitID      string
	Station     string
	From, To    time.Time
	Limit       int
	Cursor      string
}

// UnitResponse is one apparatus record with the incident it belongs to.
type UnitResponse struct {
	Incident  IncidentID
	Opened    time.Time
	Apparatus *Apparatus
}

// UnitResponsePage is one page of unit responses.
type UnitResponsePage struct {
	Responses []UnitResponse
	Next      string
}

// IncidentStore keeps incidents durably. Every method that returns without
// error has committed its change to disk.
type IncidentStore interface {
	// Upsert creates or merges each incident (see Merge). Each result says
	// what happened to the incident at the same position; a failed one
	// carries its error and leaves the others committed, unless
	// opts.Atomic, in which case nothing is written and the first error is
	// returned. Incidents must already be validated.
	Upsert(ctx context.Context, docs []*Incident, opts WriteOptions) ([]WriteResult, error)
	// Replace stores doc as the whole new version of its incident. Returns
	// EPRECONDITION if opts.IfMatch does not match.
	Replace(ctx context.Context, doc *Incident, opts WriteOptions) (WriteResult, error)
	// Delete removes an incident and records the deletion as a revision.
	// Returns ENOTFOUND if it does not exist and EPRECONDITION if
	// opts.IfMatch does not match.
	Delete(ctx context.Context, id IncidentID, opts WriteOptions) (WriteResult, error)
	// Incident returns the stored (merged) incident. Returns ENOTFOUND.
	Incident(ctx context.Context, id IncidentID) (*StoredIncident, error)
	// Revisions lists every accepted version of an incident, oldest first.
	// Returns ENOTFOUND if the incident never existed.
	Revisions(ctx context.Context, id IncidentID) ([]Revision, error)
	// IncidentAt returns the incident as it was after revision rev; the
	// incident is nil for a deletion. Returns ENOTFOUND.
	IncidentAt(ctx context.Context, id IncidentID, rev uint64) (*Incident, Revision, error)
	// Summaries returns the listing rows of the given incidents, in the
	// given order, leaving out those that do not exist.
	Summaries(ctx context.Context, ids []IncidentID) ([]IncidentSummary, error)
	// Incidents lists incidents newest first.
	Incidents(ctx context.Context, f IncidentFilter) (IncidentPage, error)
	// UnitResponses lists one unit's (or station's) responses newest first.
	UnitResponses(ctx context.Context, f UnitResponseFilter) (UnitResponsePage, error)
	// Ping checks that the store can serve reads.
	Ping(ctx context.Context) error
}

// Change is one entry of the store's change log: the incident as it is
// now (nil if it no longer exists) after the write with sequence number
// Seq. Derived state (the search index, analysis tables) follows the log.
type Change struct {
	Seq      uint64
	ID       IncidentID
	Incident *Incident
}

// ChangeLog is read by whatever keeps state derived from the store.
type ChangeLog interface {
	// Changes returns up to limit changes with Seq > after, oldest first.
	// An incident written several times in the range appears once, at its
	// last Seq, with its content as of that Seq or newer. The Incident is
	// shared with other readers and must not be modified.
	Changes(ctx context.Context, after uint64, limit int) ([]Change, error)
	// LastSeq returns the sequence number of the newest write.
	LastSeq(ctx context.Context) (uint64, error)
	// Scan calls fn for every stored incident, in key order (rebuilds).
	Scan(ctx context.Context, fn func(*Incident) error) error
}
