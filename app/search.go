package app

import (
	"context"
	"html"
	"sort"
	"strings"
	"time"
)

// SearchRequest is a full-text search over incidents with filters.
type SearchRequest struct {
	// Query uses the query-string syntax: terms, "phrases", field:value,
	// +must, -must_not, wildcards (E2*), numeric and date ranges
	// (response_seconds:>300, event_opened:>"2017-05-01T00:00:00Z").
	// Empty matches every incident.
	Query string
	// Departments, when not empty, is the set of fd_ids the caller may
	// see (an API key's scope); hits and facets stay within it.
	Departments []string
	Department  string
	Type        string
	Subtype     string
	UnitID      string
	Station     string
	From, To    time.Time
	BBox        *BBox
	Near        *Near
	// Sort is "relevance" (default), "event_opened" or "-event_opened".
	Sort   string
	Limit  int
	Cursor string
	// Facets are the fields to count: type, subtype, unit_id, station,
	// hour, weekday.
	Facets []string
}

// BBox is a bounding box in degrees.
type BBox struct{ MinLon, MinLat, MaxLon, MaxLat float64 }

// Near is a circle around a point.
type Near struct {
	Lat, Lon     float64
	RadiusMeters float64
}

// SearchHit is one matching incident as the index knows it.
type SearchHit struct {
	ID    IncidentID
	Score float64
	// Spans are the [start, end) byte offsets of matches in the
	// incident's description.comments.
	Spans [][2]int
}

// FacetCount is one value of a facet and how many hits have it.
type FacetCount struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// SearchResult is one page of hits.
type SearchResult struct {
	Total  uint64
	Hits   []SearchHit
	Facets map[string][]FacetCount
	// Next is the cursor of the next page; empty on the last page.
	Next string
	Took time.Duration
}

// IncidentIndex finds incidents. It returns ids; the store has the data.
type IncidentIndex interface {
	// Search runs a search. Returns EINVALID for a query that does not
	// parse or a bad cursor.
	Search(ctx context.Context, req SearchRequest) (*SearchResult, error)
}

// Fragments cuts up to most short excerpts of text around the spans, with
// each match wrapped in <mark></mark> and the rest HTML-escaped, so a page
// can show them as they are.
func Fragments(text string, spans [][2]int, most, width int) []string {
	if len(spans) == 0 || text == "" {
		return nil
	}
	spans = append([][2]int(nil), spans...)
	sort.Slice(spans, func(i, j int) bool { return spans[i][0] < spans[j][0] })
	var out []string
	for i := 0; i < len(spans) && len(out) < most; {
		start := clampRune(text, spans[i][0]-width/2)
		end := clampRune(text, spans[i][1]+width/2)
		var b strings.Builder
		if start > 0 {
			b.WriteString("…")
		}
		pos := start
		for ; i < len(spans) && spans[i][0] < end; i++ {
			s, e := spans[i][0], min(spans[i][1], len(text))
			if s < pos || s > e {
				continue
			}
			b.WriteString(html.EscapeString(text[pos:s]))
			b.WriteString("<mark>" + html.EscapeString(text[s:e]) + "</mark>")
			pos = e
			end = max(end, clampRune(text, e+width/4))
		}
		b.WriteString(html.EscapeString(text[pos:end]))
		if end < len(text) {
			b.WriteString("…")
		}
		out = append(out, b.String())
	}
	return out
}

// clampRune moves i into text and back to the start of a UTF-8 character.
func clampRune(text string, i int) int {
	i = min(max(i, 0), len(text))
	for i > 0 && i < len(text) && text[i]&0xC0 == 0x80 {
		i--
	}
	return i
}
