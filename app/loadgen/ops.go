package loadgen

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"cadbox/app"
	"cadbox/app/codec"
	"cadbox/app/fixture"
)

// maxOpen is how many incidents one client unfolds at a time; a new one
// beyond it leaves the oldest as last sent.
const maxOpen = 8

// client is one of the concurrent clients. Each client owns the incidents
// it creates: only it re-sends them, so it knows the ETag each of its
// writes must leave behind.
type client struct {
	r     *Runner
	token string
	rng   *rand.Rand
	lat   map[Kind][]time.Duration // nil: not recorded (preload)

	open     []*unfolding // incidents this client is unfolding
	lastBulk [][]byte     // the previous bulk batch's documents, for identical re-sends
}

// unfolding is an incident as last acknowledged and the next Update step.
type unfolding struct {
	inc  *app.Incident
	step int
}

func (r *Runner) newClient(i int, lat map[Kind][]time.Duration) *client {
	return &client{r: r, token: r.cfg.Tokens[i%len(r.cfg.Tokens)], lat: lat,
		rng: rand.New(rand.NewPCG(r.cfg.Seed, uint64(i)+1))}
}

// step runs one operation of the mix.
func (c *client) step(ctx context.Context) {
	kind := c.r.mix[c.rng.IntN(len(c.r.mix))]
	switch kind {
	case Bulk:
		n := c.r.cfg.BulkSize
		c.bulk(ctx, n, min(len(c.lastBulk), n/5))
	case PostNew:
		c.postNew(ctx)
	case PostUpdate:
		c.postUpdate(ctx)
	case Get, Apparatus, Revisions, IncidentMetrics:
		c.readIncident(ctx, kind)
	case List:
		c.list(ctx)
	case UnitResponses:
		c.unitResponses(ctx)
	case Search:
		c.search(ctx)
	case Stats:
		c.stats(ctx)
	case Metrics:
		if c.r.metrics {
			if rep, ok := c.call(ctx, Metrics, http.MethodGet, "/metrics", "", nil, false, http.StatusOK); ok && !isMetrics(rep) {
				c.r.fail(Metrics, "GET /metrics", rep.status, "not the Prometheus text format: %s", snippet(rep.body))
			}
		} else {
			c.readIncident(ctx, Get)
		}
	}
}

// call makes a request, records its latency and checks its status is one
// of want. A transport error or another status is a failure, unless ctx
// has ended (the run was stopped). It returns the response and whether
// its status was as wanted.
func (c *client) call(ctx context.Context, kind Kind, method, path, ctype string, body []byte, gzipped bool, want ...int) (reply, bool) {
	start := time.Now()
	rep, err := c.r.send(ctx, c.token, method, path, ctype, body, gzipped)
	took := time.Since(start)
	if ctx.Err() != nil {
		return rep, false
	}
	c.r.ops.Add(1)
	if c.lat != nil {
		c.lat[kind] = append(c.lat[kind], took)
	}
	req := method + " " + path
	if err != nil {
		c.r.fail(kind, req, rep.status, "transport: %v", err)
		return rep, false
	}
	for _, w := range want {
		if rep.status == w {
			return rep, true
		}
	}
	c.r.fail(kind, req, rep.status, "want %v: %s", want, snippet(rep.body))
	return rep, false
}

// decode parses a response body; a body that does not parse is a failure.
func (c *client) decode(kind Kind, req string, b []byte, v any) bool {
	if err := json.Unmarshal(b, v); err != nil {
		c.r.fail(kind, req, http.StatusOK, "response does not parse: %v: %s", err, snippet(b))
		return false
	}
	return true
}

// Response shapes, as far as the checks need them.

type writeResp struct {
	Status   string `json:"status"`
	ETag     string `json:"etag"`
	Revision uint64 `json:"revision"`
}

type bulkResp struct {
	Created, Updated, Unchanged, Failed int
	Failures                            []json.RawMessage
}

type summary struct {
	ID     app.IncidentID `json:"id"`
	Opened time.Time      `json:"event_opened"`
}

type listResp struct {
	Incidents []summary `json:"incidents"`
	Next      string    `json:"next"`
}

type searchResp struct {
	Total uint64 `json:"total"`
	Hits  []struct {
		Incident summary `json:"incident"`
	} `json:"hits"`
	Facets map[string]json.RawMessage `json:"facets"`
	Next   string                     `json:"next"`
}

type incidentDoc struct {
	Description struct {
		IncidentNumber string `json:"incident_number"`
		Comments       string `json:"comments"`
	} `json:"description"`
	FireDepartment struct {
		FDID string `json:"fd_id"`
	} `json:"fire_department"`
	Apparatus []struct {
		UnitID     string                     `json:"unit_id"`
		UnitStatus map[string]json.RawMessage `json:"unit_status"`
	} `json:"apparatus"`
}

func incidentPath(id app.IncidentID) string {
	return "/api/v1/departments/" + url.PathEscape(id.Department) + "/incidents/" + url.PathEscape(id.Number)
}

// Writes.

// bulk uploads n new incidents and identical re-sends of resend documents
// of this client's previous batch as one NDJSON body (gzip-compressed one
// time in three). The counts must say exactly that: n created, resend
// unchanged. Then one of the new incidents must be readable and
// searchable.
func (c *client) bulk(ctx context.Context, n, resend int) bool {
	first := int(c.r.next.Add(int64(n))) - n
	var raw bytes.Buffer
	docs := make([][]byte, 0, n)
	ids := make([]app.IncidentID, 0, n)
	for i := first; i < first+n; i++ {
		inc := c.r.gen.Incident(i)
		b, err := codec.Marshal(inc)
		if err != nil {
			c.r.fail(Bulk, "generate", 0, "marshal incident %d: %v", i, err)
			return false
		}
		docs = append(docs, b)
		ids = append(ids, inc.ID())
		raw.Write(b)
		raw.WriteByte('\n')
	}
	for _, j := range c.rng.Perm(len(c.lastBulk))[:resend] {
		raw.Write(c.lastBulk[j])
		raw.WriteByte('\n')
	}
	body, gz := raw.Bytes(), c.rng.IntN(3) == 0
	if gz {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		if _, err := zw.Write(body); err != nil || zw.Close() != nil {
			c.r.fail(Bulk, "gzip", 0, "compress the batch: %v", err)
			return false
		}
		body = zb.Bytes()
	}
	const path = "/api/v1/incidents"
	rep, ok := c.call(ctx, Bulk, http.MethodPost, path, "application/x-ndjson", body, gz, http.StatusOK)
	if !ok {
		return false
	}
	b := rep.body
	var res bulkResp
	if !c.decode(Bulk, "POST "+path, b, &res) {
		return false
	}
	if res.Created != n || res.Unchanged != resend || res.Updated != 0 || res.Failed != 0 {
		c.r.fail(Bulk, "POST "+path, http.StatusOK, "sent %d new and %d identical re-sends, got %d created, %d updated, %d unchanged, %d failed: %s",
			n, resend, res.Created, res.Updated, res.Unchanged, res.Failed, snippet(b))
		return false
	}
	for _, id := range ids {
		c.r.reg.put(id, "")
	}
	c.r.written.Add(int64(raw.Len()))
	c.lastBulk = docs
	id := ids[c.rng.IntN(len(ids))]
	c.checkGet(ctx, id, "", nil)
	c.checkSearch(ctx, id)
	return true
}

// FirstReport cuts a generated incident down to what a CAD system sends
// first: every unit dispatched (and acknowledged), nothing later, the
// incident open. Later reports come from fixture's Update.
func FirstReport(inc *app.Incident) *app.Incident {
	for _, a := range inc.Apparatus {
		for key := range a.UnitStatus {
			if key != "dispatched" && key != "acknowledged" {
				delete(a.UnitStatus, key)
			}
		}
		a.ExtendedData = nil
	}
	if d := inc.Description; d != nil {
		d.EventClosed, d.FirstUnitEnroute, d.FirstUnitArrived, d.ExtendedData = nil, nil, nil, nil
		if d.Active != nil {
			d.Active = app.Ptr(true)
		}
	}
	inc.Durations, inc.NFPA = nil, nil
	return inc
}

// postNew sends a new incident's first report: 201 created, then a GET
// must return that version and a search must find it.
func (c *client) postNew(ctx context.Context) {
	i := int(c.r.next.Add(1)) - 1
	inc := FirstReport(c.r.gen.Incident(i))
	if c.postOne(ctx, PostNew, inc, http.StatusCreated, "created") {
		c.checkSearch(ctx, inc.ID())
		c.open = append(c.open, &unfolding{inc: inc})
		if len(c.open) > maxOpen {
			c.open = c.open[1:]
		}
	}
}

// postUpdate sends the next report of an incident this client is
// unfolding (or starts one): more unit statuses and a longer comment. It
// must answer 200 updated, and a GET must return that version.
func (c *client) postUpdate(ctx context.Context) {
	if len(c.open) == 0 {
		c.postNew(ctx)
		return
	}
	k := c.rng.IntN(len(c.open))
	u := c.open[k]
	next := c.r.gen.Update(u.inc, u.step)
	if !c.postOne(ctx, PostUpdate, next, http.StatusOK, "updated") {
		c.open = append(c.open[:k], c.open[k+1:]...) // its state is unknown now
		return
	}
	u.inc, u.step = next, u.step+1
	if u.step >= fixture.Steps {
		c.open = append(c.open[:k], c.open[k+1:]...)
	}
}

// postOne POSTs one incident, checks the status and the write's outcome,
// registers the ETag and reads the incident back.
func (c *client) postOne(ctx context.Context, kind Kind, inc *app.Incident, wantStatus int, wantOutcome string) bool {
	body, err := codec.Marshal(inc)
	if err != nil {
		c.r.fail(kind, "generate", 0, "marshal: %v", err)
		return false
	}
	const path = "/api/v1/incidents"
	rep, ok := c.call(ctx, kind, http.MethodPost, path, "application/json", body, false, wantStatus)
	if !ok {
		return false
	}
	b := rep.body
	var res writeResp
	if !c.decode(kind, "POST "+path, b, &res) {
		return false
	}
	if res.Status != wantOutcome || res.ETag == "" {
		c.r.fail(kind, "POST "+path, wantStatus, "want status %q with an etag: %s", wantOutcome, snippet(b))
		return false
	}
	id := inc.ID()
	c.r.reg.put(id, res.ETag)
	c.r.written.Add(int64(len(body)))
	c.checkGet(ctx, id, res.ETag, inc)
	return true
}

// checkGet reads an incident right after a write was acknowledged: it
// must be there; with etag, it must be that version; with sent, its
// comments must be those sent and it must hold as many unit statuses (the
// sent report is a superset of the stored one).
func (c *client) checkGet(ctx context.Context, id app.IncidentID, etag string, sent *app.Incident) {
	path := incidentPath(id)
	req := "GET " + path
	rep, ok := c.call(ctx, CheckGet, http.MethodGet, path, "", nil, false, http.StatusOK)
	if !ok {
		return
	}
	if got := rep.header.Get("ETag"); etag != "" && got != etag {
		c.r.fail(CheckGet, req, rep.status, "ETag %s after a write acknowledged with %s", got, etag)
		return
	}
	var doc incidentDoc
	if !c.decode(CheckGet, req, rep.body, &doc) {
		return
	}
	if doc.Description.IncidentNumber != id.Number || doc.FireDepartment.FDID != id.Department {
		c.r.fail(CheckGet, req, rep.status, "returned %s/%s", doc.FireDepartment.FDID, doc.Description.IncidentNumber)
		return
	}
	if sent == nil {
		return
	}
	if got, want := doc.Description.Comments, app.Val(sent.Description.Comments); got != want {
		c.r.fail(CheckGet, req, rep.status, "comments %q, sent %q", got, want)
	}
	got, want := 0, 0
	for _, a := range doc.Apparatus {
		got += len(a.UnitStatus)
	}
	for _, a := range sent.Apparatus {
		want += len(a.UnitStatus)
	}
	if got != want {
		c.r.fail(CheckGet, req, rep.status, "%d unit statuses stored, %d sent", got, want)
	}
}

// checkSearch searches for an incident right after its write was
// acknowledged: it must be the one hit.
func (c *client) checkSearch(ctx context.Context, id app.IncidentID) {
	q := url.Values{"q": {"incident_number:" + id.Number}, "department": {id.Department}, "limit": {"5"}}
	path := "/api/v1/search?" + q.Encode()
	rep, ok := c.call(ctx, CheckSearch, http.MethodGet, path, "", nil, false, http.StatusOK)
	if !ok {
		return
	}
	b := rep.body
	var res searchResp
	if !c.decode(CheckSearch, "GET "+path, b, &res) {
		return
	}
	if res.Total != 1 || len(res.Hits) != 1 || res.Hits[0].Incident.ID != id {
		c.r.fail(CheckSearch, "GET "+path, http.StatusOK, "acknowledged incident not the one hit: %s", snippet(b))
	}
}

// Reads.

// readIncident reads a random acknowledged incident in one of four ways.
func (c *client) readIncident(ctx context.Context, kind Kind) {
	id, ok := c.r.reg.random(c.rng)
	if !ok {
		return
	}
	path := incidentPath(id)
	switch kind {
	case Get:
		rep, ok := c.call(ctx, kind, http.MethodGet, path, "", nil, false, http.StatusOK)
		b := rep.body
		var doc incidentDoc
		if ok && c.decode(kind, "GET "+path, b, &doc) && doc.Description.IncidentNumber != id.Number {
			c.r.fail(kind, "GET "+path, http.StatusOK, "returned incident %q", doc.Description.IncidentNumber)
		}
	case Apparatus:
		path += "/apparatus"
		rep, ok := c.call(ctx, kind, http.MethodGet, path, "", nil, false, http.StatusOK)
		b := rep.body
		var res struct {
			Apparatus []json.RawMessage `json:"apparatus"`
		}
		if ok && c.decode(kind, "GET "+path, b, &res) && len(res.Apparatus) == 0 {
			c.r.fail(kind, "GET "+path, http.StatusOK, "no apparatus")
		}
	case Revisions:
		rep, ok := c.call(ctx, kind, http.MethodGet, path+"/revisions", "", nil, false, http.StatusOK)
		b := rep.body
		var res struct {
			Revisions []struct {
				Revision uint64 `json:"revision"`
			} `json:"revisions"`
		}
		if !ok || !c.decode(kind, "GET "+path+"/revisions", b, &res) {
			return
		}
		if len(res.Revisions) == 0 || res.Revisions[0].Revision != 1 {
			c.r.fail(kind, "GET "+path+"/revisions", http.StatusOK, "want revisions from 1: %s", snippet(b))
			return
		}
		rev := res.Revisions[c.rng.IntN(len(res.Revisions))].Revision
		c.call(ctx, kind, http.MethodGet, path+"/revisions/"+strconv.FormatUint(rev, 10), "", nil, false, http.StatusOK)
	case IncidentMetrics:
		c.call(ctx, kind, http.MethodGet, path+"/metrics", "", nil, false, http.StatusOK)
	}
}

// departments returns the fd_ids the generator uses.
func (c *client) department() string {
	deps := c.r.gen.Departments
	return deps[c.rng.IntN(len(deps))].FDID
}

// timeRange returns a window of 1 to 60 days within the generated
// incidents' event_opened span so far.
func (c *client) timeRange() (from, to string) {
	g := c.r.gen
	n := max(c.r.next.Load()/int64(len(g.Departments)), 1)
	span := time.Duration(n) * g.Spacing
	start := g.Start.Add(time.Duration(c.rng.Int64N(int64(span))))
	end := start.Add(time.Duration(1+c.rng.IntN(60)) * 24 * time.Hour)
	return start.Format(time.RFC3339), end.Format(time.RFC3339)
}

func (c *client) unitID() string {
	switch c.rng.IntN(3) {
	case 0:
		return "M" + strconv.Itoa(1+c.rng.IntN(20))
	case 1:
		return "T" + strconv.Itoa(1+c.rng.IntN(10))
	}
	return "E" + strconv.Itoa(1+c.rng.IntN(25))
}

func (c *client) station() string { return "FSTA" + strconv.Itoa(1+c.rng.IntN(25)) }

var callTypes = []string{"EMS", "MVA", "FIRE-ALARM", "STRUCTURE FIRE", "HAZMAT", "SERVICE CALL", "OUTSIDE FIRE"}

// list pages through a filtered listing (two pages): newest first, no
// incident twice, every row of the department asked for.
func (c *client) list(ctx context.Context) {
	dept := c.department()
	q := url.Values{"department": {dept}, "limit": {strconv.Itoa(20 + c.rng.IntN(81))}}
	switch c.rng.IntN(5) {
	case 0:
		q.Set("type", callTypes[c.rng.IntN(len(callTypes))])
	case 1:
		q.Set("unit_id", c.unitID())
	case 2:
		q.Set("station", c.station())
	case 3:
		from, to := c.timeRange()
		q.Set("from", from)
		q.Set("to", to)
	}
	seen := map[app.IncidentID]bool{}
	var last time.Time
	for page := 0; page < 2; page++ {
		path := "/api/v1/incidents?" + q.Encode()
		rep, ok := c.call(ctx, List, http.MethodGet, path, "", nil, false, http.StatusOK)
		b := rep.body
		var res listResp
		if !ok || !c.decode(List, "GET "+path, b, &res) {
			return
		}
		for _, s := range res.Incidents {
			switch {
			case seen[s.ID]:
				c.r.fail(List, "GET "+path, http.StatusOK, "%s listed twice", s.ID)
				return
			case s.ID.Department != dept:
				c.r.fail(List, "GET "+path, http.StatusOK, "%s is not of department %s", s.ID, dept)
				return
			case !last.IsZero() && s.Opened.After(last):
				c.r.fail(List, "GET "+path, http.StatusOK, "%s (%s) after an older one: not newest first", s.ID, s.Opened)
				return
			}
			seen[s.ID], last = true, s.Opened
		}
		if res.Next == "" {
			return
		}
		q.Set("cursor", res.Next)
	}
}

// unitResponses lists a unit's or station's responses: newest first, and
// each one that unit's.
func (c *client) unitResponses(ctx context.Context) {
	q := url.Values{"limit": {"50"}}
	unit := ""
	if c.rng.IntN(2) == 0 {
		unit = c.unitID()
		q.Set("unit_id", unit)
	} else {
		q.Set("station", c.station())
	}
	if c.rng.IntN(2) == 0 {
		from, to := c.timeRange()
		q.Set("from", from)
		q.Set("to", to)
	}
	path := "/api/v1/apparatus?" + q.Encode()
	rep, ok := c.call(ctx, UnitResponses, http.MethodGet, path, "", nil, false, http.StatusOK)
	b := rep.body
	var res struct {
		Responses []struct {
			EventOpened time.Time `json:"event_opened"`
			Apparatus   struct {
				UnitID string `json:"unit_id"`
			} `json:"apparatus"`
		} `json:"responses"`
	}
	if !ok || !c.decode(UnitResponses, "GET "+path, b, &res) {
		return
	}
	for i, r := range res.Responses {
		if unit != "" && r.Apparatus.UnitID != unit {
			c.r.fail(UnitResponses, "GET "+path, http.StatusOK, "a response of unit %q", r.Apparatus.UnitID)
			return
		}
		if i > 0 && r.EventOpened.After(res.Responses[i-1].EventOpened) {
			c.r.fail(UnitResponses, "GET "+path, http.StatusOK, "not newest first at %d", i)
			return
		}
	}
}

var phrases = []string{`"CHEST PAIN"`, `SMOKE SHOWING`, `"OLD BOX OF CHEMICALS"`, `ALARM`, `"PT CONSCIOUS AND BREATHING"`,
	`WIRES DOWN`, `MVA`, `CHEM*`, `"TARGET HAZARD"`}

// search runs one of several query shapes. Sorted by event_opened, pages
// followed by cursor must not repeat an incident and must stay in order;
// filtered by department, every hit must be of it; with facets, each
// facet asked for must be there when anything matched; and an unfiltered
// search must count at least every incident acknowledged before it was
// sent.
func (c *client) search(ctx context.Context) {
	q := url.Values{}
	dept := ""
	pages := 1
	sorted := ""
	var facets []string
	ackedBefore := uint64(c.r.reg.len())
	total := false
	switch c.rng.IntN(8) {
	case 0: // text, facets
		q.Set("q", phrases[c.rng.IntN(len(phrases))])
		facets = []string{"type", "unit_id"}
	case 1: // a unit's incidents, newest first, three pages
		q.Set("q", "unit_id:"+c.unitID())
		sorted, pages = "-event_opened", 3
	case 2: // filters, oldest first, two pages
		dept = c.department()
		from, to := c.timeRange()
		q.Set("department", dept)
		q.Set("type", callTypes[c.rng.IntN(len(callTypes))])
		q.Set("from", from)
		q.Set("to", to)
		sorted, pages = "event_opened", 2
	case 3: // a box, facets by hour and weekday
		d := c.r.gen.Departments[c.rng.IntN(len(c.r.gen.Departments))]
		q.Set("bbox", fmt.Sprintf("%.4f,%.4f,%.4f,%.4f", d.Lon-0.05, d.Lat-0.05, d.Lon+0.05, d.Lat+0.05))
		facets = []string{"hour", "weekday"}
	case 4: // near a point, newest first
		d := c.r.gen.Departments[c.rng.IntN(len(c.r.gen.Departments))]
		q.Set("near", fmt.Sprintf("%.4f,%.4f", d.Lat+(c.rng.Float64()-0.5)*0.1, d.Lon+(c.rng.Float64()-0.5)*0.1))
		q.Set("radius", "2km")
		sorted, pages = "-event_opened", 2
	case 5: // numeric range with a must clause, facets by station
		dept = c.department()
		q.Set("department", dept)
		q.Set("q", "+category:EMS +response_seconds:>480")
		facets = []string{"station", "subtype"}
	case 6: // relevance, a department and a station, two pages
		dept = c.department()
		q.Set("department", dept)
		q.Set("station", c.station())
		q.Set("q", phrases[c.rng.IntN(len(phrases))])
		pages = 2
	case 7: // everything: counts every acknowledged incident
		q.Set("limit", "1")
		total = true
	}
	if sorted != "" {
		q.Set("sort", sorted)
	}
	if len(facets) > 0 {
		q.Set("facets", facets[0]+","+facets[1])
	}
	if q.Get("limit") == "" {
		q.Set("limit", strconv.Itoa(10+c.rng.IntN(41)))
	}
	seen := map[app.IncidentID]bool{}
	var last time.Time
	for page := 0; page < pages; page++ {
		path := "/api/v1/search?" + q.Encode()
		req := "GET " + path
		rep, ok := c.call(ctx, Search, http.MethodGet, path, "", nil, false, http.StatusOK)
		b := rep.body
		var res searchResp
		if !ok || !c.decode(Search, req, b, &res) {
			return
		}
		if total && res.Total < ackedBefore {
			c.r.fail(Search, req, http.StatusOK, "total %d, but %d incidents were acknowledged before the search", res.Total, ackedBefore)
			return
		}
		if page == 0 && res.Total > 0 {
			for _, f := range facets {
				if _, ok := res.Facets[f]; !ok {
					c.r.fail(Search, req, http.StatusOK, "facet %q missing: %s", f, snippet(b))
					return
				}
			}
		}
		for _, h := range res.Hits {
			s := h.Incident
			if dept != "" && s.ID.Department != dept {
				c.r.fail(Search, req, http.StatusOK, "hit %s is not of department %s", s.ID, dept)
				return
			}
			if sorted == "" {
				continue
			}
			if seen[s.ID] {
				c.r.fail(Search, req, http.StatusOK, "hit %s repeated on a later page", s.ID)
				return
			}
			asc := sorted == "event_opened"
			if !last.IsZero() && (asc && s.Opened.Before(last) || !asc && s.Opened.After(last)) {
				c.r.fail(Search, req, http.StatusOK, "hit %s (%s) out of %s order", s.ID, s.Opened, sorted)
				return
			}
			seen[s.ID], last = true, s.Opened
		}
		if res.Next == "" {
			return
		}
		q.Set("cursor", res.Next)
	}
}

// stats runs one of the analysis routes. The unfiltered workload count
// must include every incident acknowledged before it was sent.
func (c *client) stats(ctx context.Context) {
	dept := c.department()
	from, to := c.timeRange()
	window := "&from=" + url.QueryEscape(from) + "&to=" + url.QueryEscape(to)
	ackedBefore := int64(c.r.reg.len())
	paths := []string{
		"/api/v1/stats/durations?group_by=unit&metrics=turnout,travel,response&percentiles=95&department=" + dept,
		"/api/v1/stats/durations?group_by=hour&metrics=alarm_processing,first_response" + window,
		"/api/v1/stats/nfpa1710?group_by=department&percentiles=95",
		"/api/v1/stats/quality?group_by=station&department=" + dept,
		"/api/v1/stats/workload/types?group_by=month&department=" + dept + "&format=csv",
		"/api/v1/stats/workload/heatmap?count=unit_responses&department=" + dept,
		"/api/v1/stats/workload/units?group_by=unit_type" + window,
		"/api/v1/stats/workload/concurrency?group_by=department&percentiles=99",
		"/api/v1/stats/workload/types",
	}
	k := c.rng.IntN(len(paths))
	rep, ok := c.call(ctx, Stats, http.MethodGet, paths[k], "", nil, false, http.StatusOK)
	b := rep.body
	if !ok || k != len(paths)-1 {
		return
	}
	var res struct {
		Incidents int64 `json:"incidents"`
	}
	if c.decode(Stats, "GET "+paths[k], b, &res) && res.Incidents < ackedBefore {
		c.r.fail(Stats, "GET "+paths[k], http.StatusOK, "counts %d incidents, but %d were acknowledged before the request", res.Incidents, ackedBefore)
	}
}
