package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"time"

	"cadbox/app"

	"github.com/labstack/echo/v4"
	"github.com/swaggest/rest"
	"github.com/swaggest/rest/nethttp"
	"github.com/swaggest/rest/request"
)

// Parameters. The same structs feed the request decoder and the OpenAPI
// spec, so the documentation cannot drift from what is parsed.

type incidentParams struct {
	FDID           string `path:"fd_id" description:"The department's fd_id." example:"76000"`
	IncidentNumber string `path:"incident_number" description:"The department's incident number." example:"F01705150050"`
}

func (p incidentParams) id() app.IncidentID {
	return app.IncidentID{Department: p.FDID, Number: p.IncidentNumber}
}

type writeParams struct {
	incidentParams
	IfMatch string `header:"If-Match" description:"Only write if the stored incident still has this ETag (optimistic concurrency); * means it must exist."`
}

type revisionParams struct {
	incidentParams
	Revision uint64 `path:"revision" description:"Revision number (1 is the first accepted version)." example:"1"`
}

type ingestParams struct {
	Atomic  bool   `query:"atomic" description:"All or nothing: if any record fails, none is stored."`
	IfMatch string `header:"If-Match" description:"Single-document uploads only: merge only if the stored incident has this ETag."`
}

type listParams struct {
	Department string `query:"department" description:"Only this fd_id." example:"76000"`
	From       string `query:"from" format:"date-time" description:"event_opened at or after (RFC 3339)." example:"2017-05-01T00:00:00Z"`
	To         string `query:"to" format:"date-time" description:"event_opened before (RFC 3339)." example:"2017-06-01T00:00:00Z"`
	Type       string `query:"type" description:"description.type, exactly." example:"HAZMAT"`
	Subtype    string `query:"subtype" description:"description.subtype, exactly."`
	UnitID     string `query:"unit_id" description:"Only incidents this unit responded to." example:"E22"`
	Station    string `query:"station" description:"Only incidents a unit of this station responded to." example:"FSTA22"`
	Limit      int    `query:"limit" minimum:"1" maximum:"1000" default:"50" description:"Page size."`
	Cursor     string `query:"cursor" description:"The next value of the previous page."`
}

type unitParams struct {
	UnitID  string `query:"unit_id" description:"The unit (unit_id or station is required)." example:"E22"`
	Station string `query:"station" description:"The station (unit_id or station is required)." example:"FSTA22"`
	From    string `query:"from" format:"date-time" description:"event_opened at or after (RFC 3339)."`
	To      string `query:"to" format:"date-time" description:"event_opened before (RFC 3339)."`
	Limit   int    `query:"limit" minimum:"1" maximum:"1000" default:"50" description:"Page size."`
	Cursor  string `query:"cursor" description:"The next value of the previous page."`
}

type writeHeaders struct {
	Location string `header:"Location" description:"The incident's URL."`
	ETag     string `header:"ETag" description:"The version now stored."`
}

type readHeaders struct {
	ETag         string `header:"ETag" description:"The stored version; send it as If-Match when writing."`
	LastModified string `header:"Last-Modified" description:"When the stored version was accepted."`
}

// Responses.

// WriteResponse says what a single-document write did.
type WriteResponse struct {
	Status         app.WriteStatus `json:"status" enum:"created,updated,unchanged,deleted" example:"created"`
	FDID           string          `json:"fd_id" example:"76000"`
	IncidentNumber string          `json:"incident_number" example:"F01705150050"`
	Revision       uint64          `json:"revision" example:"1"`
	ETag           string          `json:"etag" example:"\"1\""`
	Modified       time.Time       `json:"modified"`
	Location       string          `json:"location" example:"/api/v1/departments/76000/incidents/F01705150050"`
}

func writeResponse(r app.WriteResult) WriteResponse {
	return WriteResponse{Status: r.Status, FDID: r.ID.Department, IncidentNumber: r.ID.Number, Revision: r.Revision,
		ETag: r.ETag(), Modified: r.Modified, Location: incidentURL(r.ID)}
}

// ListResponse is a page of incidents.
type ListResponse struct {
	Incidents []app.IncidentSummary `json:"incidents"`
	Next      string                `json:"next,omitempty" description:"Pass as cursor for the next page; absent on the last page."`
}

// ApparatusResponse lists an incident's unit responses.
type ApparatusResponse struct {
	Apparatus []*app.Apparatus `json:"apparatus"`
}

// RevisionsResponse lists an incident's versions, oldest first.
type RevisionsResponse struct {
	Revisions []app.Revision `json:"revisions"`
}

// RevisionResponse is an incident as it was after one revision; incident
// is absent for a deletion.
type RevisionResponse struct {
	Revision app.Revision  `json:"revision"`
	Incident *app.Incident `json:"incident,omitempty"`
}

// UnitResponse is one unit's response to one incident.
type UnitResponse struct {
	FDID           string         `json:"fd_id"`
	IncidentNumber string         `json:"incident_number"`
	EventOpened    time.Time      `json:"event_opened"`
	Apparatus      *app.Apparatus `json:"apparatus"`
}

// UnitResponsesResponse is a page of unit responses.
type UnitResponsesResponse struct {
	Responses []UnitResponse `json:"responses"`
	Next      string         `json:"next,omitempty"`
}

// HealthResponse reports liveness or readiness.
type HealthResponse struct {
	Status  string            `json:"status" enum:"ok,unavailable"`
	Version string            `json:"version,omitempty"`
	Checks  map[string]string `json:"checks,omitempty"`
}

func incidentURL(id app.IncidentID) string {
	return "/api/v1/departments/" + url.PathEscape(id.Department) + "/incidents/" + url.PathEscape(id.Number)
}

// Parameter binding.

type pathValuesKey struct{}

// decoders holds a swaggest request decoder for each parameter struct.
type decoders map[reflect.Type]nethttp.RequestDecoder

func newDecoders(routes []route) decoders {
	df := request.NewDecoderFactory()
	df.SetDecoderFunc(rest.ParamInPath, func(r *http.Request) (url.Values, error) {
		v, _ := r.Context().Value(pathValuesKey{}).(url.Values)
		return v, nil
	})
	d := decoders{}
	for _, r := range routes {
		if r.params != nil {
			// GET: the body is read by the handlers, not the decoder.
			d[reflect.TypeOf(r.params)] = df.MakeDecoder(http.MethodGet, r.params, nil)
		}
	}
	return d
}

func (s *Server) bind(c echo.Context, v any) error {
	dec, ok := s.decoders[reflect.TypeOf(v)]
	if !ok {
		return errors.New("no decoder for " + reflect.TypeOf(v).String())
	}
	vals := url.Values{}
	for i, n := range c.ParamNames() {
		vals.Set(n, c.ParamValues()[i])
	}
	r := c.Request()
	r = r.WithContext(context.WithValue(r.Context(), pathValuesKey{}, vals))
	if err := dec.Decode(r, v, nil); err != nil {
		var re rest.RequestErrors
		if errors.As(err, &re) {
			var fields []app.FieldError
			for k, msgs := range re {
				name := k[strings.IndexByte(k, ':')+1:]
				for _, m := range msgs {
					fields = append(fields, app.FieldError{Pointer: "/" + name, Message: strings.TrimPrefix(m, "#: ")})
				}
			}
			sort.Slice(fields, func(i, j int) bool { return fields[i].Pointer < fields[j].Pointer })
			return app.Invalid("A request parameter is not valid.", fields...)
		}
		return app.Invalid("The request parameters are not valid.", app.FieldError{Pointer: "/", Message: err.Error()})
	}
	return nil
}

func parseTimeParam(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, app.Invalid("A time parameter is not valid.",
			app.FieldError{Pointer: "/" + name, Message: "must be an RFC 3339 timestamp such as 2017-05-15T13:19:12-04:00"})
	}
	return t, nil
}

func checkLimit(n int) error {
	if n < 0 || n > 1000 {
		return app.Invalid("limit is out of range.", app.FieldError{Pointer: "/limit", Message: "must be between 1 and 1000"})
	}
	return nil
}

// Handlers.

func (s *Server) handleGet(c echo.Context) error {
	var p incidentParams
	if err := s.bind(c, &p); err != nil {
		return err
	}
	if err := mustSee(c, p.id()); err != nil {
		return err
	}
	st, err := s.store.Incident(c.Request().Context(), p.id())
	if err != nil {
		return err
	}
	etag := app.ETag(st.Revision)
	h := c.Response().Header()
	h.Set("ETag", etag)
	h.Set("Last-Modified", st.Modified.UTC().Format(http.TimeFormat))
	if inm := c.Request().Header.Get("If-None-Match"); inm != "" && (inm == "*" || strings.Contains(inm, etag)) {
		return c.NoContent(http.StatusNotModified)
	}
	return writeJSON(c, http.StatusOK, st.Incident)
}

func (s *Server) handleReplace(c echo.Context) error {
	var p writeParams
	if err := s.bind(c, &p); err != nil {
		return err
	}
	if err := mustSee(c, p.id()); err != nil {
		return err
	}
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	if err := checkJSONType(c); err != nil {
		return err
	}
	inc, err := s.decodeOne(body)
	if err != nil {
		return err
	}
	if got := inc.ID(); got != p.id() {
		return app.Invalid("The ids in the body differ from those in the path.",
			app.FieldError{Pointer: "/fire_department/fd_id", Message: "must equal the path's fd_id " + p.FDID},
			app.FieldError{Pointer: "/description/incident_number", Message: "must equal the path's incident_number " + p.IncidentNumber})
	}
	res, err := s.store.Replace(c.Request().Context(), inc, app.WriteOptions{IfMatch: p.IfMatch, Source: principal(c).ID})
	if err != nil {
		return err
	}
	return s.writeResult(c, res)
}

func (s *Server) handleDelete(c echo.Context) error {
	var p writeParams
	if err := s.bind(c, &p); err != nil {
		return err
	}
	if err := mustSee(c, p.id()); err != nil {
		return err
	}
	res, err := s.store.Delete(c.Request().Context(), p.id(), app.WriteOptions{IfMatch: p.IfMatch, Source: principal(c).ID})
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, writeResponse(res))
}

func (s *Server) writeResult(c echo.Context, res app.WriteResult) error {
	h := c.Response().Header()
	h.Set("ETag", res.ETag())
	h.Set("Location", incidentURL(res.ID))
	status := http.StatusOK
	if res.Status == app.StatusCreated {
		status = http.StatusCreated
	}
	return writeJSON(c, status, writeResponse(res))
}

func (s *Server) handleList(c echo.Context) error {
	var p listParams
	if err := s.bind(c, &p); err != nil {
		return err
	}
	from, err := parseTimeParam("from", p.From)
	if err != nil {
		return err
	}
	to, err := parseTimeParam("to", p.To)
	if err != nil {
		return err
	}
	if err := checkLimit(p.Limit); err != nil {
		return err
	}
	page, err := s.store.Incidents(c.Request().Context(), app.IncidentFilter{
		Departments: scope(c), Department: p.Department, From: from, To: to, Type: p.Type, Subtype: p.Subtype,
		UnitID: p.UnitID, Station: p.Station, Limit: p.Limit, Cursor: p.Cursor,
	})
	if err != nil {
		return err
	}
	if page.Incidents == nil {
		page.Incidents = []app.IncidentSummary{}
	}
	return writeJSON(c, http.StatusOK, ListResponse{Incidents: page.Incidents, Next: page.Next})
}

func (s *Server) handleApparatus(c echo.Context) error {
	var p incidentParams
	if err := s.bind(c, &p); err != nil {
		return err
	}
	if err := mustSee(c, p.id()); err != nil {
		return err
	}
	st, err := s.store.Incident(c.Request().Context(), p.id())
	if err != nil {
		return err
	}
	units := st.Incident.Apparatus
	if units == nil {
		units = []*app.Apparatus{}
	}
	return writeJSON(c, http.StatusOK, ApparatusResponse{Apparatus: units})
}

func (s *Server) handleRevisions(c echo.Context) error {
	var p incidentParams
	if err := s.bind(c, &p); err != nil {
		return err
	}
	if err := mustSee(c, p.id()); err != nil {
		return err
	}
	revs, err := s.store.Revisions(c.Request().Context(), p.id())
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, RevisionsResponse{Revisions: revs})
}

func (s *Server) handleRevision(c echo.Context) error {
	var p revisionParams
	if err := s.bind(c, &p); err != nil {
		return err
	}
	if err := mustSee(c, p.id()); err != nil {
		return err
	}
	inc, rev, err := s.store.IncidentAt(c.Request().Context(), p.id(), p.Revision)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, RevisionResponse{Revision: rev, Incident: inc})
}

func (s *Server) handleUnitResponses(c echo.Context) error {
	var p unitParams
	if err := s.bind(c, &p); err != nil {
		return err
	}
	from, err := parseTimeParam("from", p.From)
	if err != nil {
		return err
	}
	to, err := parseTimeParam("to", p.To)
	if err != nil {
		return err
	}
	if err := checkLimit(p.Limit); err != nil {
		return err
	}
	page, err := s.store.UnitResponses(c.Request().Context(), app.UnitResponseFilter{
		Departments: scope(c), UnitID: p.UnitID, Station: p.Station, From: from, To: to, Limit: p.Limit, Cursor: p.Cursor,
	})
	if err != nil {
		return err
	}
	out := UnitResponsesResponse{Responses: make([]UnitResponse, len(page.Responses)), Next: page.Next}
	for i, r := range page.Responses {
		out.Responses[i] = UnitResponse{FDID: r.Incident.Department, IncidentNumber: r.Incident.Number, EventOpened: r.Opened, Apparatus: r.Apparatus}
	}
	return writeJSON(c, http.StatusOK, out)
}

type backupHeaders struct {
	ContentDisposition string `header:"Content-Disposition" description:"attachment; filename=cadbox-YYYYMMDDTHHMMSSZ.db"`
}

func (s *Server) handleBackup(c echo.Context) error {
	if !principal(c).AllDepartments() {
		return app.Errorf(app.EFORBIDDEN, "A backup holds every department: it needs an admin key for all departments.")
	}
	if s.backup == nil {
		return app.Errorf(app.EUNAVAILABLE, "Backups are not available on this server.")
	}
	name := "cadbox-" + time.Now().UTC().Format("20060102T150405Z") + ".db"
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "application/octet-stream")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	n, err := s.backup(c.Request().Context(), c.Response())
	if err != nil {
		// The status is sent: the client sees a short body. Log it.
		s.log.Error("backup failed", slog.Int64("bytes", n), slog.Any("error", err))
		return nil
	}
	s.log.Info("backup sent", slog.Int64("bytes", n))
	return nil
}

func (s *Server) handleHealth(c echo.Context) error {
	return writeJSON(c, http.StatusOK, HealthResponse{Status: "ok", Version: s.cfg.Version})
}

func (s *Server) handleReady(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	out := HealthResponse{Status: "ok", Version: s.cfg.Version, Checks: map[string]string{}}
	status := http.StatusOK
	for _, chk := range s.ready {
		if err := chk.fn(ctx); err != nil {
			out.Checks[chk.name] = err.Error()
			out.Status, status = "unavailable", http.StatusServiceUnavailable
			continue
		}
		out.Checks[chk.name] = "ok"
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return writeJSON(c, status, out)
}
