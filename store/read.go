package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"cadbox/app"
	"cadbox/app/codec"

	bolt "go.etcd.io/bbolt"
)

// Listing limits.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Incident returns the stored incident.
func (s *DB) Incident(ctx context.Context, id app.IncidentID) (*app.StoredIncident, error) {
	var out *app.StoredIncident
	err := s.view(ctx, func(tx *bolt.Tx) error {
		st, err := s.load(tx, incidentKey(id))
		if err != nil {
			return err
		}
		if st == nil {
			return notFound(id)
		}
		out = &app.StoredIncident{Incident: st.inc, Revision: st.rec.rev, Modified: st.rec.modified}
		return nil
	})
	return out, err
}

// Revisions lists an incident's revisions, oldest first.
func (s *DB) Revisions(ctx context.Context, id app.IncidentID) ([]app.Revision, error) {
	var out []app.Revision
	err := s.view(ctx, func(tx *bolt.Tx) error {
		key := incidentKey(id)
		prefix := childPrefix(key)
		c := tx.Bucket(bucketRevisions).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(k) != len(prefix)+8 {
				continue
			}
			rr, err := decodeRevisionRecord(v)
			if err != nil {
				return fmt.Errorf("revision %q: %w", k, err)
			}
			out = append(out, rr.revision(beUint64(k[len(prefix):])))
		}
		if len(out) == 0 {
			return notFound(id)
		}
		return nil
	})
	return out, err
}

func (rr revisionRecord) revision(n uint64) app.Revision {
	act := map[byte]app.RevisionAction{actCreated: app.ActionCreated, actUpdated: app.ActionUpdated,
		actReplaced: app.ActionReplaced, actDeleted: app.ActionDeleted}[rr.action]
	return app.Revision{Number: n, Action: act, ReceivedAt: rr.received, Source: rr.source}
}

// IncidentAt rebuilds the incident as it was after revision rev, by
// applying reverse patches to the current version, newest first.
func (s *DB) IncidentAt(ctx context.Context, id app.IncidentID, rev uint64) (*app.Incident, app.Revision, error) {
	var (
		out    *app.Incident
		target app.Revision
	)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		key := incidentKey(id)
		last := lastRevision(tx, key)
		if rev == 0 || rev > last {
			return app.Errorf(app.ENOTFOUND, "Incident %s of department %s has no revision %d.", id.Number, id.Department, rev)
		}
		var state map[string]any
		cur, err := s.load(tx, key)
		if err != nil {
			return err
		}
		if cur != nil {
			whole, err := cur.whole()
			if err != nil {
				return err
			}
			if state, err = app.PatchTree(whole); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketRevisions)
		for r := last; ; r-- {
			rr, err := decodeRevisionRecord(b.Get(revisionKey(key, r)))
			if err != nil {
				return fmt.Errorf("revision %d of %s: %w", r, id, err)
			}
			if r == rev {
				target = rr.revision(r)
				break
			}
			switch rr.action {
			case actCreated:
				state = nil
			case actDeleted:
				js, err := s.zc.decompress(rr.patch)
				if err != nil {
					return err
				}
				if state, err = app.PatchTree(js); err != nil {
					return err
				}
			default:
				js, err := s.zc.decompress(rr.patch)
				if err != nil {
					return err
				}
				p, err := app.PatchTree(js)
				if err != nil {
					return err
				}
				state = app.ApplyPatch(state, p)
			}
		}
		if state == nil {
			return nil
		}
		js, err := app.TreeJSON(state)
		if err != nil {
			return err
		}
		out = new(app.Incident)
		return codec.Unmarshal(js, out)
	})
	return out, target, err
}

// Incidents lists incidents newest first. The cursor is the last index
// key returned, so a page costs the same however deep it is.
func (s *DB) Incidents(ctx context.Context, f app.IncidentFilter) (app.IncidentPage, error) {
	var page app.IncidentPage
	limit := clampLimit(f.Limit)
	after, err := decodeCursor(f.Cursor)
	if err != nil {
		return page, err
	}
	err = s.view(ctx, func(tx *bolt.Tx) error {
		// Each index key ends with what identifies the incident.
		bucket, prefix, incKey := bucketOpened, []byte(nil), func(k []byte) []byte { return k[8:] }
		switch {
		case f.UnitID != "":
			bucket, prefix = bucketUnit, append([]byte(f.UnitID), sep)
			incKey = func(k []byte) []byte { return k[len(prefix)+8:] }
		case f.Department != "":
			bucket, prefix = bucketDept, append([]byte(f.Department), sep)
			incKey = func(k []byte) []byte {
				return incidentKey(app.IncidentID{Department: f.Department, Number: string(k[len(prefix)+8:])})
			}
		}
		sums := tx.Bucket(bucketSummaries)
		return scanDesc(tx.Bucket(bucket), prefix, f, after, func(k []byte) (bool, error) {
			sum, err := s.summary(sums, incKey(k))
			if err != nil {
				return false, fmt.Errorf("index %s entry %q: %w", bucket, k, err)
			}
			if !sum.Matches(f) {
				return false, nil
			}
			page.Incidents = append(page.Incidents, sum)
			if len(page.Incidents) == limit {
				page.Next = encodeCursor(k)
				return true, nil
			}
			return false, nil
		})
	})
	if page.Next != "" && !s.hasMore(ctx, f, page.Next) {
		page.Next = ""
	}
	return page, err
}

// Summaries returns the listing rows of the given incidents, in order;
// an incident that does not exist (any more) is left out.
func (s *DB) Summaries(ctx context.Context, ids []app.IncidentID) ([]app.IncidentSummary, error) {
	out := make([]app.IncidentSummary, 0, len(ids))
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSummaries)
		for _, id := range ids {
			if b.Get(incidentKey(id)) == nil {
				continue
			}
			sum, err := s.summary(b, incidentKey(id))
			if err != nil {
				return fmt.Errorf("summary of %s: %w", id, err)
			}
			out = append(out, sum)
		}
		return nil
	})
	return out, err
}

func (s *DB) summary(b *bolt.Bucket, key []byte) (app.IncidentSummary, error) {
	var sum app.IncidentSummary
	v := b.Get(key)
	if v == nil {
		return sum, errors.New("no summary")
	}
	js, err := s.zc.decompress(v)
	if err != nil {
		return sum, err
	}
	err = codec.Unmarshal(js, &sum)
	return sum, err
}

// hasMore reports whether a listing continues after cursor, so that the
// last page says so instead of sending clients for an empty one.
func (s *DB) hasMore(ctx context.Context, f app.IncidentFilter, cursor string) bool {
	f.Cursor, f.Limit = cursor, 1
	next, err := s.Incidents(ctx, f)
	return err == nil && len(next.Incidents) > 0
}

// scanDesc walks an index from the newest entry (or from just before
// after) back to the oldest within prefix and the filter's time range,
// calling fn until it says stop.
func scanDesc(b *bolt.Bucket, prefix []byte, f app.IncidentFilter, after []byte, fn func(k []byte) (bool, error)) error {
	c := b.Cursor()
	var k []byte
	start := append(bytes.Clone(prefix), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	if !f.To.IsZero() {
		start = append(bytes.Clone(prefix), timeKey(f.To)...)
	}
	if after != nil {
		if !bytes.HasPrefix(after, prefix) {
			return app.Errorf(app.EINVALID, "The cursor does not belong to this listing; start again without it.")
		}
		if bytes.Compare(after, start) < 0 {
			start = after
		}
	}
	k, _ = c.Seek(start)
	if k == nil {
		k, _ = c.Last()
	}
	for k != nil && bytes.Compare(k, start) >= 0 {
		k, _ = c.Prev()
	}
	var from []byte
	if !f.From.IsZero() {
		from = append(bytes.Clone(prefix), timeKey(f.From)...)
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
		if from != nil && bytes.Compare(k, from) < 0 {
			return nil
		}
		stop, err := fn(k)
		if err != nil || stop {
			return err
		}
	}
	return nil
}

// UnitResponses lists a unit's (or a station's) responses, newest first.
func (s *DB) UnitResponses(ctx context.Context, f app.UnitResponseFilter) (app.UnitResponsePage, error) {
	var page app.UnitResponsePage
	if f.UnitID == "" && f.Station == "" {
		return page, app.Invalid("Give unit_id or station.", app.FieldError{Pointer: "/unit_id", Message: "unit_id or station is required"})
	}
	limit := clampLimit(f.Limit)
	after, err := decodeCursor(f.Cursor)
	if err != nil {
		return page, err
	}
	err = s.view(ctx, func(tx *bolt.Tx) error {
		byStation := f.UnitID == ""
		bucket, prefix := bucketUnit, append([]byte(f.UnitID), sep)
		if byStation {
			bucket, prefix = bucketStation, append([]byte(f.Station), sep)
		}
		ab := tx.Bucket(bucketApparatus)
		lf := app.IncidentFilter{From: f.From, To: f.To}
		return scanDesc(tx.Bucket(bucket), prefix, lf, after, func(k []byte) (bool, error) {
			rest := k[len(prefix)+8:]
			opened := parseTimeKey(k[len(prefix) : len(prefix)+8])
			incKey, unit := rest, f.UnitID
			if byStation {
				i := bytes.LastIndexByte(rest, sep)
				incKey, unit = rest[:i], string(rest[i+1:])
			}
			v := ab.Get(apparatusKey(incKey, unit))
			if v == nil {
				return false, fmt.Errorf("index entry %q has no apparatus", k)
			}
			_, u, err := s.decodeApparatus(v)
			if err != nil {
				return false, fmt.Errorf("apparatus %q: %w", apparatusKey(incKey, unit), err)
			}
			if f.UnitID != "" && f.Station != "" && app.Val(u.Station) != f.Station {
				return false, nil
			}
			id, _ := parseIncidentKey(incKey)
			if len(f.Departments) > 0 && !slices.Contains(f.Departments, id.Department) {
				return false, nil
			}
			page.Responses = append(page.Responses, app.UnitResponse{Incident: id, Opened: opened, Apparatus: u})
			if len(page.Responses) == limit {
				page.Next = encodeCursor(k)
				return true, nil
			}
			return false, nil
		})
	})
	return page, err
}

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}

func encodeCursor(k []byte) string { return base64.RawURLEncoding.EncodeToString(k) }

func decodeCursor(c string) ([]byte, error) {
	if c == "" {
		return nil, nil
	}
	k, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(k) < 8 {
		return nil, app.Invalid("The cursor is not valid; use the next cursor of a previous page.",
			app.FieldError{Pointer: "/cursor", Message: "is not a cursor this server issued"})
	}
	return k, nil
}

func beUint64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }
