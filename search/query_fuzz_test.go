package search_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"cadbox/app"
	"cadbox/search"
)

// FuzzSearchQuery sends a user's q string with filters, sort, limit,
// cursor, facets and geo filters (checked the way the API checks them) to
// a real index of the search fixtures. Every request must answer or fail
// with an invalid-request error naming the parameter; an answer must
// respect the limit, hold only stored incidents that pass every filter,
// in the requested order, with only the requested facets, and its next
// cursor must be accepted for the following page.
func FuzzSearchQuery(f *testing.F) {
	for _, s := range []struct {
		q, dept, typ, unit, station, sort, cursor, facets string
		limit                                             int
	}{
		{`"OLD BOX OF CHEMICALS"`, "", "", "", "", "", "", "type,unit_id", 0},
		{"+unit_id:E22 -type:FIRE", "1", "", "", "", "-event_opened", "", "", 1},
		{"CHEM* smoke~1 /ch.*ls/", "", "EMS", "M1", "FSTA1", "event_opened", "", "hour,weekday", 2},
		{`event_opened:>="2020-02-01T00:00:00Z" units:>=2 response_seconds:<600`, "", "", "", "", "relevance", "", "station,subtype", 200},
		{`"unterminated`, "", "", "", "", "", "", "", 0},
		{`a:b:c (((x)) ^2 +- "" \ * ?`, "", "", "", "", "", "WyIxIl0", "", -1},
		{`type:HAZMAT OR C201713827`, "2", "", "", "", "", "", "color", 0},
	} {
		f.Add(s.q, s.dept, s.typ, s.unit, s.station, s.sort, s.cursor, s.facets, s.limit,
			int64(0), int64(0), uint8(0), -77.6, 37.3, -77.3, 37.7)
	}
	f.Add("", "", "", "", "", "-event_opened", "", "type", 1, int64(1577836800), int64(1583020800), uint8(3), -77.6, 37.3, 37.54, -77.44)

	e := newEnv(f)
	docs := fixtures()
	e.put(f, docs...)
	byNumber := map[string]*app.Incident{}
	for _, d := range docs {
		byNumber[d.ID().Number] = d
	}
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, q, dept, typ, unit, station, sort, cursor, facets string, limit int,
		from, to int64, geo uint8, g1, g2, g3, g4 float64) {
		req := app.SearchRequest{Query: q, Department: dept, Type: typ, UnitID: unit, Station: station,
			Sort: sort, Cursor: cursor, Limit: limit}
		if limit < 0 || limit > search.MaxLimit {
			return // the API answers 422 before searching
		}
		for _, fc := range strings.Split(facets, ",") {
			if fc = strings.TrimSpace(fc); fc != "" {
				req.Facets = append(req.Facets, fc)
			}
		}
		if from != 0 {
			req.From = time.Unix(from%(1<<36), 0)
		}
		if to != 0 {
			req.To = time.Unix(to%(1<<36), 0)
		}
		if geo&1 != 0 {
			if !(g1 < g3 && g2 < g4 && lonOK(g1) && lonOK(g3) && latOK(g2) && latOK(g4)) {
				return // the API answers 422
			}
			req.BBox = &app.BBox{MinLon: g1, MinLat: g2, MaxLon: g3, MaxLat: g4}
		}
		if geo&2 != 0 {
			radius := float64(geo>>2) * 1000
			if !latOK(g3) || !lonOK(g4) || radius <= 0 {
				return // the API answers 422
			}
			req.Near = &app.Near{Lat: g3, Lon: g4, RadiusMeters: radius}
		}

		res, err := e.ix.Search(ctx, req)
		if err != nil {
			checkRequestError(t, req, err)
			return
		}
		want := limit
		if want == 0 {
			want = search.DefaultLimit
		}
		if len(res.Hits) > want {
			t.Fatalf("%d hits for limit %d", len(res.Hits), want)
		}
		if res.Total < uint64(len(res.Hits)) {
			t.Fatalf("total %d < %d hits", res.Total, len(res.Hits))
		}
		var prev time.Time
		for i, h := range res.Hits {
			inc, ok := byNumber[h.ID.Number]
			if !ok || inc.ID() != h.ID {
				t.Fatalf("hit %v is not a stored incident", h.ID)
			}
			if msg := violates(inc, req); msg != "" {
				t.Fatalf("hit %v breaks the %s filter of %+v", h.ID, msg, req)
			}
			opened := inc.Opened()
			switch {
			case i > 0 && sort == "event_opened" && opened.Before(prev),
				i > 0 && sort == "-event_opened" && opened.After(prev):
				t.Fatalf("hits out of %s order", sort)
			}
			prev = opened
			for _, sp := range h.Spans {
				if sp[0] < 0 || sp[0] > sp[1] || sp[1] > len(app.Val(inc.Description.Comments)) {
					t.Fatalf("span %v outside the comments of %v", sp, h.ID)
				}
			}
		}
		for name := range res.Facets {
			if !slices.Contains(req.Facets, name) {
				t.Fatalf("facet %q was not asked for", name)
			}
		}
		if res.Next != "" {
			next := req
			next.Cursor = res.Next
			if _, err := e.ix.Search(ctx, next); err != nil {
				t.Fatalf("the next cursor %q is refused: %v", res.Next, err)
			}
		}
	})
}

// checkRequestError asserts err is an invalid-request error that names
// the request parameter at fault.
func checkRequestError(t *testing.T, req app.SearchRequest, err error) {
	t.Helper()
	var ae *app.Error
	if !errors.As(err, &ae) || ae.Code != app.EINVALID {
		t.Fatalf("%+v: %v (code %s), want an invalid-request error", req, err, app.ErrorCode(err))
	}
	if ae.Message == "" || len(ae.Fields) == 0 {
		t.Fatalf("%+v: error %v names no parameter", req, err)
	}
	for _, fe := range ae.Fields {
		switch fe.Pointer {
		case "/q", "/sort", "/cursor", "/facets", "/from", "/to":
		default:
			t.Fatalf("%+v: error %v points at %q", req, err, fe.Pointer)
		}
	}
}

// violates names the filter of req that inc does not pass, if any.
func violates(inc *app.Incident, req app.SearchRequest) string {
	s := inc.Summary()
	switch {
	case req.Department != "" && s.ID.Department != req.Department:
		return "department"
	case req.Type != "" && s.Type != req.Type:
		return "type"
	case req.UnitID != "" && !slices.Contains(s.Units, req.UnitID):
		return "unit_id"
	case req.Station != "" && !slices.Contains(s.Stations, req.Station):
		return "station"
	case !req.From.IsZero() && s.Opened.Before(req.From):
		return "from"
	case !req.To.IsZero() && !s.Opened.Before(req.To):
		return "to"
	}
	if b := req.BBox; b != nil && s.Latitude != nil {
		lat, lon := *s.Latitude, *s.Longitude
		if lat < b.MinLat-1e-6 || lat > b.MaxLat+1e-6 || lon < b.MinLon-1e-6 || lon > b.MaxLon+1e-6 {
			return "bbox"
		}
	}
	return ""
}

func latOK(v float64) bool { return v >= -90 && v <= 90 }
func lonOK(v float64) bool { return v >= -180 && v <= 180 }
