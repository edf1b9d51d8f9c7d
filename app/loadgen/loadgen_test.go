package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"cadbox/app"
	"cadbox/app/fixture"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"Empty", nil, 50, 0},
		{"One", ms(7), 99, 7 * time.Millisecond},
		{"MedianOdd", ms(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{"MedianEven", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"P99Of100", ms(func() []int {
			v := make([]int, 100)
			for i := range v {
				v[i] = i + 1
			}
			return v
		}()...), 99, 99 * time.Millisecond},
		{"Max", ms(1, 2, 3), 100, 3 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Fatalf("Percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

// TestFirstReport checks that a first report is open, has every unit
// dispatched and nothing later, and that the fixture's updates unfold it
// into a valid incident with more statuses at each step.
func TestFirstReport(t *testing.T) {
	t.Parallel()
	g := fixture.New(5)
	for i := range 30 {
		inc := FirstReport(g.Incident(i))
		if err := inc.Validate(); err != nil {
			t.Fatalf("FirstReport(Incident(%d)): %v", i, err)
		}
		if inc.Description.EventClosed != nil {
			t.Fatalf("FirstReport(Incident(%d)) is closed", i)
		}
		count := func(inc *app.Incident) int {
			n := 0
			for _, a := range inc.Apparatus {
				n += len(a.UnitStatus)
			}
			return n
		}
		for _, a := range inc.Apparatus {
			if a.UnitStatus["dispatched"] == nil {
				t.Fatalf("FirstReport(Incident(%d)): unit %s not dispatched", i, *a.UnitID)
			}
			for key := range a.UnitStatus {
				if key != "dispatched" && key != "acknowledged" {
					t.Fatalf("FirstReport(Incident(%d)): unit %s has %q", i, *a.UnitID, key)
				}
			}
		}
		prev := inc
		for step := range fixture.Steps {
			next := g.Update(prev, step)
			if err := next.Validate(); err != nil {
				t.Fatalf("Incident(%d) step %d: %v", i, step, err)
			}
			if count(next) <= count(prev) {
				t.Fatalf("Incident(%d) step %d: %d statuses after %d", i, step, count(next), count(prev))
			}
			prev = next
		}
		if prev.Description.EventClosed == nil {
			t.Fatalf("Incident(%d) not closed after the last step", i)
		}
	}
}

// fakeServer is a tiny stand-in for cadbox that answers single POSTs,
// GETs, the read-after-write search and the listing, with faults that can
// be switched on.
type fakeServer struct {
	mu     sync.Mutex
	etags  map[app.IncidentID]int
	docs   map[app.IncidentID][]byte // the last document POSTed
	stale  bool                      // GET answers an older ETag than the write did
	lose   bool                      // the listing leaves out the first incident
	status int                       // if not 0, every POST answers it
	first  app.IncidentID
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/incidents":
		if f.status != 0 {
			http.Error(w, "broken", f.status)
			return
		}
		body, err := io.ReadAll(r.Body)
		var doc struct {
			Description struct {
				IncidentNumber string `json:"incident_number"`
			} `json:"description"`
			FireDepartment struct {
				FDID string `json:"fd_id"`
			} `json:"fire_department"`
		}
		if err == nil {
			err = json.Unmarshal(body, &doc)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id := app.IncidentID{Department: doc.FireDepartment.FDID, Number: doc.Description.IncidentNumber}
		status, code := "updated", http.StatusOK
		if f.etags[id] == 0 {
			status, code = "created", http.StatusCreated
			if len(f.etags) == 0 {
				f.first = id
			}
		}
		f.etags[id]++
		f.docs[id] = body // each report is a superset of the one before
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"status":%q,"etag":"\"%d\""}`, status, f.etags[id])
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/v1/departments/"):
		parts := strings.Split(r.URL.Path, "/") // "", api, v1, departments, fd, incidents, n
		id := app.IncidentID{Department: parts[4], Number: parts[6]}
		n := f.etags[id]
		if n == 0 {
			http.NotFound(w, r)
			return
		}
		if f.stale {
			n--
		}
		w.Header().Set("ETag", fmt.Sprintf(`"%d"`, n))
		w.Write(f.docs[id])
	case r.URL.Path == "/api/v1/search":
		num := strings.TrimPrefix(r.URL.Query().Get("q"), "incident_number:")
		id := app.IncidentID{Department: r.URL.Query().Get("department"), Number: num}
		if num != "" && f.etags[id] > 0 {
			fmt.Fprintf(w, `{"total":1,"hits":[{"incident":{"id":{"fd_id":%q,"incident_number":%q}}}]}`, id.Department, id.Number)
			return
		}
		fmt.Fprintf(w, `{"total":%d,"hits":[]}`, len(f.etags))
	case r.URL.Path == "/api/v1/incidents":
		var rows []string
		for id := range f.etags {
			if f.lose && id == f.first {
				continue
			}
			rows = append(rows, fmt.Sprintf(`{"id":{"fd_id":%q,"incident_number":%q}}`, id.Department, id.Number))
		}
		fmt.Fprintf(w, `{"incidents":[%s]}`, strings.Join(rows, ","))
	case r.URL.Path == "/api/v1/stats/workload/types":
		fmt.Fprintf(w, `{"incidents":%d}`, len(f.etags))
	default:
		http.NotFound(w, r)
	}
}

// runFake runs single POSTs only (with their read-after-write checks)
// against a fake server.
func runFake(t *testing.T, f *fakeServer) (*Runner, *Report) {
	t.Helper()
	f.etags, f.docs = map[app.IncidentID]int{}, map[app.IncidentID][]byte{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	r, err := New(Config{BaseURL: srv.URL, Tokens: []string{"t"}, Clients: 2, Duration: 300 * time.Millisecond,
		Mix: map[Kind]int{PostNew: 1, PostUpdate: 1}, HTTP: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return r, r.Run(context.Background())
}

func TestRunHealthyServer(t *testing.T) {
	t.Parallel()
	f := &fakeServer{}
	r, rep := runFake(t, f)
	if rep.FailureCount != 0 {
		fs, _ := r.Failures()
		t.Fatalf("%d failures against a healthy server: %v", rep.FailureCount, fs)
	}
	if rep.Incidents == 0 || rep.Ops == 0 {
		t.Fatalf("nothing ran: %+v", rep)
	}
	v, err := r.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v.MissingCount != 0 || v.StaleCount != 0 || v.Listed != v.Acknowledged || v.ETagChecked != v.Acknowledged {
		t.Fatalf("verification of a healthy server: %+v", v)
	}
	md := rep.Markdown()
	for _, want := range []string{"| post_new |", "| check_get |", "| check_search |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks a %s row:\n%s", want, md)
		}
	}
}

func TestRunServerErrors(t *testing.T) {
	t.Parallel()
	r, rep := runFake(t, &fakeServer{status: http.StatusInternalServerError})
	fs, n := r.Failures()
	if n == 0 || rep.FailureCount != n || len(fs) == 0 {
		t.Fatalf("a server answering 500 gave %d failures (%d in the report)", n, rep.FailureCount)
	}
	if fs[0].Status != http.StatusInternalServerError || fs[0].Kind != PostNew {
		t.Fatalf("first failure %v, want a post_new answered 500", fs[0])
	}
}

func TestRunStaleRead(t *testing.T) {
	t.Parallel()
	r, _ := runFake(t, &fakeServer{stale: true})
	fs, n := r.Failures()
	if n == 0 {
		t.Fatal("a server that reads back an older version passed the read-your-writes check")
	}
	if fs[0].Kind != CheckGet || !strings.Contains(fs[0].Detail, "ETag") {
		t.Fatalf("first failure %v, want a check_get about the ETag", fs[0])
	}
	v, err := r.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v.StaleCount != v.ETagChecked || v.StaleCount == 0 {
		t.Fatalf("verify found %d stale of %d", v.StaleCount, v.ETagChecked)
	}
}

func TestVerifyFindsMissing(t *testing.T) {
	t.Parallel()
	r, _ := runFake(t, &fakeServer{lose: true})
	v, err := r.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v.MissingCount != 1 || len(v.Missing) != 1 || v.Listed != v.Acknowledged-1 {
		t.Fatalf("one incident left out of the listing: %+v", v)
	}
}

func TestNewChecksConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{Tokens: []string{"t"}},
		{BaseURL: "http://x"},
		{BaseURL: "http://x", Tokens: []string{"t"}, Mix: map[Kind]int{Get: 0}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}
