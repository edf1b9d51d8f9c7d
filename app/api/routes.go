package api

import (
	"net/http"

	"cadbox/app"

	"github.com/labstack/echo/v4"
)

// route is one API operation: how Echo serves it and how the OpenAPI spec
// describes it. Both come from this one table.
type route struct {
	method, path     string
	handler          echo.HandlerFunc
	access           access // who may call it; every route decides
	id, summary, doc string
	tag              string
	params           any // struct with path:"" and query:"" tags, or nil
	bodies           []body
	responses        []response
}

type body struct {
	contentType string
	schema      any
}

type response struct {
	status      int
	contentType string // default application/json
	schema      any    // nil: no body
	headers     any    // struct with header:"" tags, or nil
	doc         string
}

func (s *Server) routeTable() []route {
	problems := func(statuses ...int) []response {
		out := make([]response, len(statuses))
		for i, st := range statuses {
			out[i] = response{status: st, contentType: problemContentType, schema: new(Problem), doc: http.StatusText(st)}
		}
		return out
	}
	with := func(rs []response, extra ...response) []response { return append(extra, rs...) }
	table := []route{
		{
			method: http.MethodPost, path: "/api/v1/incidents", handler: s.handleIngest, access: accessWriter,
			id: "ingestIncidents", tag: "Incidents", summary: "Upload incidents (create or merge)",
			doc:    ingestDoc,
			params: new(ingestParams),
			bodies: []body{
				{"application/json", new(app.Incident)},
				{"application/x-ndjson", new(string)},
				{"multipart/form-data", new(multipartUpload)},
			},
			responses: with(problems(400, 412, 413, 415, 422, 503, 507),
				response{status: 201, schema: new(WriteResponse), headers: new(writeHeaders), doc: "A single incident was created."},
				response{status: 200, schema: new(BulkResponse), doc: "A single incident was updated or unchanged (body: WriteResponse), or a bulk upload was processed (body: BulkResponse)."}),
		},
		{
			method: http.MethodGet, path: "/api/v1/incidents", handler: s.handleList, access: accessReader,
			id: "listIncidents", tag: "Incidents", summary: "List incidents, newest event_opened first",
			doc:       "Pages through incidents with filters. Follow `next` (pass it as `cursor`) for the next page; it is absent on the last page.",
			params:    new(listParams),
			responses: with(problems(422), response{status: 200, schema: new(ListResponse)}),
		},
		{
			method: http.MethodGet, path: incidentPath, handler: s.handleGet, access: accessReader,
			id: "getIncident", tag: "Incidents", summary: "Get an incident (the merged document)",
			params:    new(incidentParams),
			responses: with(problems(404), response{status: 200, schema: new(app.Incident), headers: new(readHeaders)}, response{status: 304, doc: "Not modified (If-None-Match)."}),
		},
		{
			method: http.MethodPut, path: incidentPath, handler: s.handleReplace, access: accessWriter,
			id: "replaceIncident", tag: "Incidents", summary: "Replace an incident's whole document",
			doc:       "Stores the body as the new version; members it lacks are removed (unlike POST, which merges). The ids in the body must equal those in the path. Send If-Match with the ETag you read to avoid overwriting a change you have not seen.",
			params:    new(writeParams),
			bodies:    []body{{"application/json", new(app.Incident)}},
			responses: with(problems(400, 412, 413, 415, 422, 507), response{status: 200, schema: new(WriteResponse), headers: new(writeHeaders)}, response{status: 201, schema: new(WriteResponse), headers: new(writeHeaders)}),
		},
		{
			method: http.MethodDelete, path: incidentPath, handler: s.handleDelete, access: accessWriter,
			id: "deleteIncident", tag: "Incidents", summary: "Delete an incident",
			doc:       "Removes the incident from reads and listings. The deletion is recorded as a revision that keeps the deleted document.",
			params:    new(writeParams),
			responses: with(problems(404, 412, 507), response{status: 200, schema: new(WriteResponse)}),
		},
		{
			method: http.MethodGet, path: incidentPath + "/apparatus", handler: s.handleApparatus, access: accessReader,
			id: "listIncidentApparatus", tag: "Incidents", summary: "List an incident's apparatus (unit responses)",
			params:    new(incidentParams),
			responses: with(problems(404), response{status: 200, schema: new(ApparatusResponse)}),
		},
		{
			method: http.MethodGet, path: incidentPath + "/revisions", handler: s.handleRevisions, access: accessReader,
			id: "listIncidentRevisions", tag: "Incidents", summary: "List every accepted version of an incident",
			params:    new(incidentParams),
			responses: with(problems(404), response{status: 200, schema: new(RevisionsResponse)}),
		},
		{
			method: http.MethodGet, path: incidentPath + "/revisions/:revision", handler: s.handleRevision, access: accessReader,
			id: "getIncidentRevision", tag: "Incidents", summary: "Get an incident as it was after one revision",
			params:    new(revisionParams),
			responses: with(problems(404, 422), response{status: 200, schema: new(RevisionResponse)}),
		},
		{
			method: http.MethodGet, path: "/api/v1/search", handler: s.handleSearch, access: accessReader,
			id: "searchIncidents", tag: "Search", summary: "Full-text search with filters, facets and highlights",
			doc:       searchDoc,
			params:    new(searchParams),
			responses: with(problems(422, 503), response{status: 200, schema: new(SearchResponse)}),
		},
		{
			method: http.MethodGet, path: "/api/v1/apparatus", handler: s.handleUnitResponses, access: accessReader,
			id: "listUnitResponses", tag: "Apparatus", summary: "List one unit's (or station's) responses across incidents, newest first",
			params:    new(unitParams),
			responses: with(problems(422), response{status: 200, schema: new(UnitResponsesResponse)}),
		},
		{
			method: http.MethodGet, path: "/api/v1/admin/backup", handler: s.handleBackup, access: accessAdmin,
			id: "backup", tag: "Operations", summary: "Download a consistent copy of the live store",
			doc:       "Streams the bbolt file as of the start of the request while cadbox keeps serving; restore it with `cadbox restore --from FILE` on a stopped server. `cadbox backup --out FILE` calls this route.",
			responses: with(problems(503), response{status: 200, contentType: "application/octet-stream", schema: new([]byte), headers: new(backupHeaders)}),
		},
		{
			method: http.MethodPost, path: "/api/v1/keys", handler: s.handleKeyCreate, access: accessAdmin,
			id: "createKey", tag: "Keys", summary: "Create an API key (the token is shown once)",
			doc:       "Roles: reader (reads, search, stats, export), writer (reader + upload, update, delete), admin (writer + keys and backups). departments limits the key to those fd_ids; empty means all. An admin limited to departments can only create keys within them.",
			bodies:    []body{{"application/json", new(KeyCreateRequest)}},
			responses: with(problems(400, 401, 403, 422), response{status: 201, schema: new(KeyCreateResponse)}),
		},
		{
			method: http.MethodGet, path: "/api/v1/keys", handler: s.handleKeyList, access: accessAdmin,
			id: "listKeys", tag: "Keys", summary: "List API keys (never their tokens)",
			responses: with(problems(401, 403), response{status: 200, schema: new(KeyListResponse)}),
		},
		{
			method: http.MethodGet, path: "/api/v1/keys/self", handler: s.handleKeySelf, access: accessReader,
			id: "getOwnKey", tag: "Keys", summary: "The key making this request: its role and departments",
			responses: with(problems(401), response{status: 200, schema: new(app.APIKey)}),
		},
		{
			method: http.MethodDelete, path: "/api/v1/keys/:id", handler: s.handleKeyRevoke, access: accessAdmin,
			id: "revokeKey", tag: "Keys", summary: "Revoke an API key (effective on its next request)",
			params:    new(keyParams),
			responses: with(problems(401, 403, 404), response{status: 200, schema: new(app.APIKey)}),
		},
		{
			method: http.MethodGet, path: "/healthz", handler: s.handleHealth, access: accessOpen,
			id: "health", tag: "Operations", summary: "Liveness: the process is up",
			responses: []response{{status: 200, schema: new(HealthResponse)}},
		},
		{
			method: http.MethodGet, path: "/readyz", handler: s.handleReady, access: accessOpen,
			id: "ready", tag: "Operations", summary: "Readiness: the store (and index) can serve",
			doc:       "200 when every dependency answers; 503 otherwise. Load balancers use this route.",
			responses: []response{{status: 200, schema: new(HealthResponse)}, {status: 503, schema: new(HealthResponse)}},
		},
	}
	return append(table, s.statsRoutes()...)
}

const incidentPath = "/api/v1/departments/:fd_id/incidents/:incident_number"

const ingestDoc = `Accepts one incident (application/json object), a JSON array of incidents, an NDJSON stream
(application/x-ndjson, one incident per line), or multipart/form-data with one or more .json / .ndjson
files. Any of them may be gzip-compressed: Content-Encoding: gzip for the body, or .gz files in a multipart
upload.

Every write is an upsert keyed by (fire_department.fd_id, description.incident_number): a new incident is
created; a known one is merged — objects member by member, apparatus by unit_id, unit statuses by status key;
members that are absent or null keep their stored value. An identical resend changes nothing and adds no
revision. Required in every document: description.incident_number, fire_department.fd_id and
description.event_opened (RFC 3339).

A single object answers 201 (created) or 200 (updated or unchanged) with Location and ETag. Anything else is a
bulk upload: it answers with counts and, for each failed record, its index (and line or file), its incident
number if known, and the problem. Valid records are committed even when others fail, unless atomic=true. A 2xx
means the data is on disk.`

const searchDoc = `Searches incidents with the query-string syntax (see q) and filters. Every filter narrows the
hits; facets count values over all hits, not just the page. Results are incident summaries read from the store,
with highlighted excerpts of the comments. Pages are cursor-based (search_after), so deep pages cost the same as
the first. A write is searchable as soon as it has been acknowledged.

Examples:
  q="OLD BOX OF CHEMICALS"                  phrase in any text field
  q=unit_id:H3                              every incident unit H3 responded to
  q=C201713827                              a case number mentioned in the comments
  q=+type:EMS +response_seconds:>480        EMS incidents with a first-unit response over 8 minutes
  bbox=-77.6,37.4,-77.3,37.7&facets=type   incidents in a box around Richmond, counted by type
  near=37.5419,-77.4406&radius=2km&sort=-event_opened`
