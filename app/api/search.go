package api

import (
	"math"
	"net/http"
	"strconv"
	"strings"

	"cadbox/app"

	"github.com/labstack/echo/v4"
)

type searchParams struct {
	Q          string `query:"q" description:"Query-string syntax: terms (CHEST PAIN), phrases (\"OLD BOX OF CHEMICALS\"), field:value (unit_id:E22, type:HAZMAT, station:FSTA22, place:CANDLEWOOD), +must and -must_not (+unit_id:E22 -type:FIRE), wildcards (CHEM*, unit_id:E2*), numeric ranges (response_seconds:>480, units:>=4, event_seconds:<600), date ranges (event_opened:>=\"2017-05-01T00:00:00Z\"). Text fields: comments, address, place, cross_streets, type_text, subtype_text; keyword fields (exact, case-sensitive): department, type, subtype, category, unit_id, unit_type, station, shift, response_zone, first_due, city, incident_number, hour, weekday. Terms without a field search all text. Empty: every incident." example:"\"OLD BOX OF CHEMICALS\""`
	Department string `query:"department" description:"Only this fd_id." example:"76000"`
	From       string `query:"from" format:"date-time" description:"event_opened at or after (RFC 3339)."`
	To         string `query:"to" format:"date-time" description:"event_opened before (RFC 3339)."`
	Type       string `query:"type" description:"description.type, exactly."`
	Subtype    string `query:"subtype" description:"description.subtype, exactly."`
	UnitID     string `query:"unit_id" description:"Only incidents this unit responded to."`
	Station    string `query:"station" description:"Only incidents a unit of this station responded to."`
	BBox       string `query:"bbox" description:"minLon,minLat,maxLon,maxLat: only incidents located in this box." example:"-77.6,37.4,-77.3,37.7"`
	Near       string `query:"near" description:"lat,lon: only incidents within radius of this point." example:"37.5419,-77.4406"`
	Radius     string `query:"radius" description:"With near: a distance such as 500m, 2km or 1.5mi (default 1km)." example:"2km"`
	Sort       string `query:"sort" enum:"relevance,event_opened,-event_opened" description:"Order of hits (default relevance)."`
	Limit      int    `query:"limit" minimum:"1" maximum:"200" default:"20" description:"Page size."`
	Cursor     string `query:"cursor" description:"The next value of the previous page (same query and sort)."`
	Facets     string `query:"facets" description:"Comma-separated fields to count over all hits: type, subtype, unit_id, station, hour, weekday (hour and weekday in the department's time zone)." example:"type,unit_id,hour"`
}

// SearchResponse is one page of search hits.
type SearchResponse struct {
	Total  uint64                      `json:"total" description:"All hits, not just this page."`
	TookMS float64                     `json:"took_ms"`
	Hits   []SearchHit                 `json:"hits"`
	Facets map[string][]app.FacetCount `json:"facets,omitempty"`
	Next   string                      `json:"next,omitempty" description:"Pass as cursor for the next page; absent on the last page."`
}

// SearchHit is one matching incident.
type SearchHit struct {
	Incident   app.IncidentSummary `json:"incident"`
	Score      float64             `json:"score"`
	Highlights []string            `json:"highlights,omitempty" description:"Excerpts of description.comments with matches in <mark></mark>; the rest is HTML-escaped."`
}

func (s *Server) handleSearch(c echo.Context) error {
	if s.search == nil {
		return app.Errorf(app.EUNAVAILABLE, "Search is not enabled on this server.")
	}
	var p searchParams
	if err := s.bind(c, &p); err != nil {
		return err
	}
	req := app.SearchRequest{Query: p.Q, Departments: scope(c), Department: p.Department, Type: p.Type, Subtype: p.Subtype,
		UnitID: p.UnitID, Station: p.Station, Sort: p.Sort, Limit: p.Limit, Cursor: p.Cursor}
	var err error
	if req.From, err = parseTimeParam("from", p.From); err != nil {
		return err
	}
	if req.To, err = parseTimeParam("to", p.To); err != nil {
		return err
	}
	if p.Limit < 0 || p.Limit > 200 {
		return app.Invalid("limit is out of range.", app.FieldError{Pointer: "/limit", Message: "must be between 1 and 200"})
	}
	if p.BBox != "" {
		v, err := floats(p.BBox, 4)
		if err != nil || v[0] >= v[2] || v[1] >= v[3] || !lonOK(v[0]) || !lonOK(v[2]) || !latOK(v[1]) || !latOK(v[3]) {
			return app.Invalid("bbox is not valid.", app.FieldError{Pointer: "/bbox", Message: "must be minLon,minLat,maxLon,maxLat with min < max, longitudes in [-180,180] and latitudes in [-90,90]"})
		}
		req.BBox = &app.BBox{MinLon: v[0], MinLat: v[1], MaxLon: v[2], MaxLat: v[3]}
	}
	if p.Near != "" {
		v, err := floats(p.Near, 2)
		if err != nil || !latOK(v[0]) || !lonOK(v[1]) {
			return app.Invalid("near is not valid.", app.FieldError{Pointer: "/near", Message: "must be lat,lon in degrees"})
		}
		r := 1000.0
		if p.Radius != "" {
			if r, err = parseDistance(p.Radius); err != nil {
				return app.Invalid("radius is not valid.", app.FieldError{Pointer: "/radius", Message: "must be a positive distance such as 500m, 2km or 1.5mi"})
			}
		}
		req.Near = &app.Near{Lat: v[0], Lon: v[1], RadiusMeters: r}
	} else if p.Radius != "" {
		return app.Invalid("radius needs near.", app.FieldError{Pointer: "/radius", Message: "only applies with near=lat,lon"})
	}
	if p.Facets != "" {
		for _, f := range strings.Split(p.Facets, ",") {
			if f = strings.TrimSpace(f); f != "" {
				req.Facets = append(req.Facets, f)
			}
		}
	}
	ctx := c.Request().Context()
	res, err := s.search.Search(ctx, req)
	if err != nil {
		return err
	}
	ids := make([]app.IncidentID, len(res.Hits))
	for i, h := range res.Hits {
		ids[i] = h.ID
	}
	sums, err := s.store.Summaries(ctx, ids)
	if err != nil {
		return err
	}
	byID := make(map[app.IncidentID]app.IncidentSummary, len(sums))
	for _, sm := range sums {
		byID[sm.ID] = sm
	}
	out := SearchResponse{Total: res.Total, TookMS: float64(res.Took.Microseconds()) / 1000, Hits: make([]SearchHit, 0, len(res.Hits)),
		Facets: res.Facets, Next: res.Next}
	for _, h := range res.Hits {
		sm, ok := byID[h.ID]
		if !ok {
			continue // deleted since the index answered
		}
		hit := SearchHit{Incident: sm, Score: h.Score}
		if len(h.Spans) > 0 {
			if st, err := s.store.Incident(ctx, h.ID); err == nil && st.Incident.Description != nil {
				hit.Highlights = app.Fragments(app.Val(st.Incident.Description.Comments), h.Spans, 3, 120)
			}
		}
		out.Hits = append(out.Hits, hit)
	}
	return writeJSON(c, http.StatusOK, out)
}

func floats(s string, n int) ([]float64, error) {
	parts := strings.Split(s, ",")
	if len(parts) != n {
		return nil, strconv.ErrSyntax
	}
	out := make([]float64, n)
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, strconv.ErrSyntax
		}
		out[i] = v
	}
	return out, nil
}

func latOK(v float64) bool { return v >= -90 && v <= 90 }
func lonOK(v float64) bool { return v >= -180 && v <= 180 }

// parseDistance reads 500m, 2km, 1.5mi, 300ft or plain meters.
func parseDistance(s string) (float64, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range []struct {
		suffix string
		m      float64
	}{{"km", 1000}, {"mi", 1609.344}, {"ft", 0.3048}, {"m", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.m
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 || math.IsInf(v, 0) || v*mult > 20_000_000 {
		return 0, strconv.ErrSyntax
	}
	return v * mult, nil
}
