package search

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp/syntax"
	"strconv"
	"strings"
	"time"

	"cadbox/app"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"
)

// Limits of a search request.
const (
	DefaultLimit = 20
	MaxLimit     = 200
	facetSize    = 25
)

// Facetable lists the fields that facets may count.
var facetable = map[string]string{
	"type": fieldType, "subtype": fieldSubtype, "unit_id": fieldUnit,
	"station": fieldStation, "hour": fieldHour, "weekday": fieldWeekday,
}

// FacetNames returns the facet names Search accepts.
func FacetNames() []string {
	return []string{"type", "subtype", "unit_id", "station", "hour", "weekday"}
}

// Search runs req. It returns ids, scores, comment match spans, facets
// and a cursor; the caller hydrates the hits from the store.
func (ix *Index) Search(ctx context.Context, req app.SearchRequest) (*app.SearchResult, error) {
	if err := ix.available(); err != nil {
		return nil, err
	}
	q, err := buildQuery(req)
	if err != nil {
		return nil, err
	}
	limit := req.Limit
	switch {
	case limit <= 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		limit = MaxLimit
	}
	sr := bleve.NewSearchRequestOptions(q, limit, 0, false)
	switch req.Sort {
	case "", "relevance":
		sr.SortBy([]string{"-_score", "_id"})
	case "event_opened":
		sr.SortBy([]string{fieldOpened, "_id"})
	case "-event_opened":
		sr.SortBy([]string{"-" + fieldOpened, "_id"})
	default:
		return nil, app.Invalid("sort is not valid.", app.FieldError{Pointer: "/sort", Message: "must be relevance, event_opened or -event_opened"})
	}
	if req.Cursor != "" {
		after, err := decodeCursor(req.Cursor, len(sr.Sort))
		if err != nil {
			return nil, err
		}
		sr.SearchAfter = after
	}
	for _, f := range req.Facets {
		field, ok := facetable[f]
		if !ok {
			return nil, app.Invalid("A facet is not valid.", app.FieldError{Pointer: "/facets",
				Message: "must be a list of " + strings.Join(FacetNames(), ", ") + "; got " + strconvQuote(f)})
		}
		sr.AddFacet(f, bleve.NewFacetRequest(field, facetSize))
	}
	sr.IncludeLocations = req.Query != ""
	res, err := ix.idx.SearchInContext(ctx, sr)
	if err != nil {
		return nil, searchError(err)
	}
	out := &app.SearchResult{Total: res.Total, Took: res.Took, Hits: make([]app.SearchHit, 0, len(res.Hits))}
	for _, h := range res.Hits {
		id, ok := parseDocID(h.ID)
		if !ok {
			continue
		}
		hit := app.SearchHit{ID: id, Score: h.Score}
		for _, locs := range h.Locations[fieldComments] {
			for _, l := range locs {
				hit.Spans = append(hit.Spans, [2]int{int(l.Start), int(l.End)})
			}
		}
		out.Hits = append(out.Hits, hit)
	}
	if len(res.Hits) == limit && uint64(len(res.Hits)) < res.Total {
		out.Next = encodeCursor(res.Hits[len(res.Hits)-1].Sort)
	}
	if len(res.Facets) > 0 {
		out.Facets = map[string][]app.FacetCount{}
		for name, fr := range res.Facets {
			counts := []app.FacetCount{}
			if fr.Terms != nil {
				for _, t := range fr.Terms.Terms() {
					counts = append(counts, app.FacetCount{Value: t.Term, Count: t.Count})
				}
			}
			out.Facets[name] = counts
		}
	}
	return out, nil
}

func strconvQuote(s string) string { return strconv.Quote(s) }

// buildQuery combines the query string with the filters.
func buildQuery(req app.SearchRequest) (query.Query, error) {
	var must []query.Query
	if strings.TrimSpace(req.Query) != "" {
		parsed, err := bleve.NewQueryStringQuery(req.Query).Parse()
		if err != nil {
			return nil, app.Invalid("The query does not parse.", app.FieldError{Pointer: "/q", Message: cleanParseError(err)})
		}
		must = append(must, foldPatterns(expandDefault(parsed)))
	}
	term := func(field, v string) {
		if v != "" {
			t := bleve.NewTermQuery(v)
			t.SetField(field)
			must = append(must, t)
		}
	}
	term(fieldDept, req.Department)
	if len(req.Departments) > 0 {
		var any []query.Query
		for _, d := range req.Departments {
			t := bleve.NewTermQuery(d)
			t.SetField(fieldDept)
			any = append(any, t)
		}
		must = append(must, bleve.NewDisjunctionQuery(any...))
	}
	term(fieldType, req.Type)
	term(fieldSubtype, req.Subtype)
	term(fieldUnit, req.UnitID)
	term(fieldStation, req.Station)
	for _, t := range []struct {
		name string
		at   time.Time
	}{{"from", req.From}, {"to", req.To}} {
		if !t.at.IsZero() && (t.at.Before(query.MinRFC3339CompatibleTime) || t.at.After(query.MaxRFC3339CompatibleTime)) {
			return nil, app.Invalid("A time filter is out of range.", app.FieldError{Pointer: "/" + t.name,
				Message: "must be between " + query.MinRFC3339CompatibleTime.Format(time.RFC3339) + " and " + query.MaxRFC3339CompatibleTime.Format(time.RFC3339)})
		}
	}
	if !req.From.IsZero() || !req.To.IsZero() {
		must = append(must, openedRange(req.From, req.To))
	}
	if b := req.BBox; b != nil {
		g := bleve.NewGeoBoundingBoxQuery(b.MinLon, b.MaxLat, b.MaxLon, b.MinLat)
		g.SetField(fieldLocation)
		must = append(must, g)
	}
	if n := req.Near; n != nil {
		g := bleve.NewGeoDistanceQuery(n.Lon, n.Lat, strconv.FormatFloat(n.RadiusMeters, 'f', -1, 64)+"m")
		g.SetField(fieldLocation)
		must = append(must, g)
	}
	switch len(must) {
	case 0:
		return bleve.NewMatchAllQuery(), nil
	case 1:
		return must[0], nil
	}
	return bleve.NewConjunctionQuery(must...), nil
}

// openedRange matches event_opened in [from, to); a zero time is an open
// end. bleve splits a numeric range into prefix terms and, for a range
// that crosses zero with ends close to it (a few weeks either side of
// 1970-01-01 in nanoseconds), walks an astronomical number of terms
// without ever checking the context, so such a range is searched as its
// part before the epoch or its part from the epoch on.
func openedRange(from, to time.Time) query.Query {
	epoch := time.Unix(0, 0)
	if !from.IsZero() && !to.IsZero() && from.Before(epoch) && to.After(epoch) {
		return bleve.NewDisjunctionQuery(openedRange(from, epoch), openedRange(epoch, to))
	}
	incl, excl := true, false
	dr := bleve.NewDateRangeInclusiveQuery(from, to, &incl, &excl)
	dr.SetField(fieldOpened)
	return dr
}

// expandDefault makes every term, phrase or pattern of q that names no
// field search each of textFields (a disjunction), as bleve's _all field
// would if the index had one. It rewrites q in place where it can and
// returns the query to use.
func expandDefault(q query.Query) query.Query {
	switch q := q.(type) {
	case *query.BooleanQuery:
		q.Must = expandChild(q.Must)
		q.Should = expandChild(q.Should)
		q.MustNot = expandChild(q.MustNot)
	case *query.ConjunctionQuery:
		for i, c := range q.Conjuncts {
			q.Conjuncts[i] = expandDefault(c)
		}
	case *query.DisjunctionQuery:
		for i, d := range q.Disjuncts {
			q.Disjuncts[i] = expandDefault(d)
		}
	case *query.MatchQuery:
		return perTextField(q)
	case *query.MatchPhraseQuery:
		return perTextField(q)
	case *query.TermQuery:
		return perTextField(q)
	case *query.WildcardQuery:
		return perTextField(q)
	case *query.PrefixQuery:
		return perTextField(q)
	case *query.FuzzyQuery:
		return perTextField(q)
	case *query.RegexpQuery:
		return perTextField(q)
	}
	return q
}

// perTextField returns q itself if it names a field, else a disjunction
// of copies of q, one per text field.
func perTextField[T any, P interface {
	*T
	query.FieldableQuery
}](q P) query.Query {
	if q.Field() != "" {
		return q
	}
	alts := make([]query.Query, len(textFields))
	for i, f := range textFields {
		c := P(new(T))
		*c = *q
		c.SetField(f)
		alts[i] = c
	}
	return query.NewDisjunctionQuery(alts)
}

// expandChild is expandDefault for an optional part of a boolean query.
func expandChild(q query.Query) query.Query {
	if q == nil {
		return nil
	}
	return expandDefault(q)
}

// keywordFields are matched exactly, case included.
var keywordFields = map[string]bool{fieldDept: true, fieldType: true, fieldSubtype: true, fieldCategory: true,
	fieldUnit: true, fieldUnitType: true, fieldStation: true, fieldShift: true, fieldZone: true, fieldFirstDue: true,
	fieldCity: true, fieldNumber: true, fieldHour: true, fieldWeekday: true}

// foldPatterns lower-cases wildcard, prefix, fuzzy and regexp terms aimed
// at text fields. Those terms are not analyzed, and CAD users type in
// upper case: CHEM* must find "chemicals" as indexed.
func foldPatterns(q query.Query) query.Query {
	text := func(field string) bool { return !keywordFields[field] }
	switch q := q.(type) {
	case *query.BooleanQuery:
		for _, sub := range []query.Query{q.Must, q.Should, q.MustNot} {
			if sub != nil {
				foldPatterns(sub)
			}
		}
	case *query.ConjunctionQuery:
		for _, c := range q.Conjuncts {
			foldPatterns(c)
		}
	case *query.DisjunctionQuery:
		for _, d := range q.Disjuncts {
			foldPatterns(d)
		}
	case *query.WildcardQuery:
		if text(q.FieldVal) {
			q.Wildcard = strings.ToLower(q.Wildcard)
		}
	case *query.PrefixQuery:
		if text(q.FieldVal) {
			q.Prefix = strings.ToLower(q.Prefix)
		}
	case *query.FuzzyQuery:
		if text(q.FieldVal) {
			q.Term = strings.ToLower(q.Term)
		}
	case *query.RegexpQuery:
		if text(q.FieldVal) {
			q.Regexp = strings.ToLower(q.Regexp)
		}
	}
	return q
}

func cleanParseError(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "parse error: ")
	return "is not valid query syntax: " + msg
}

// searchError classifies an error from bleve: errors about the request
// are the client's (422), anything else is internal.
func searchError(err error) error {
	msg := err.Error()
	var rerr *syntax.Error
	client := errors.As(err, &rerr) // a /regexp/ in the query
	for _, s := range []string{"search after", "invalid", "parse", "parsing", "unknown field", "syntax"} {
		client = client || strings.Contains(strings.ToLower(msg), s)
	}
	if !client {
		return fmt.Errorf("search: %w", err)
	}
	// The filters are checked before searching: what bleve refuses is
	// in the query.
	return &app.Error{Code: app.EINVALID, Message: "The search request is not valid: " + msg,
		Fields: []app.FieldError{{Pointer: "/q", Message: "is not a query this index can run: " + msg}}, Err: err}
}

func encodeCursor(sort []string) string {
	b, _ := json.Marshal(sort) // []string always marshals
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(c string, n int) ([]string, error) {
	bad := app.Invalid("The cursor is not valid; use the next value of a previous page with the same sort.",
		app.FieldError{Pointer: "/cursor", Message: "is not a cursor this server issued for this sort"})
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, bad
	}
	var after []string
	if err := json.Unmarshal(b, &after); err != nil || len(after) != n {
		return nil, bad
	}
	return after, nil
}
