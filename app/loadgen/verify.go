package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"cadbox/app"
)

// Verification is what Verify found.
type Verification struct {
	Acknowledged int // distinct incidents acknowledged
	Listed       int // incidents in GET /api/v1/incidents, all pages
	// Missing are acknowledged incidents the listing lacks (the first 20);
	// MissingCount counts them all.
	Missing      []app.IncidentID
	MissingCount int
	// ETagChecked incidents were written one at a time and read back at
	// the end; Stale are those whose ETag is not the last acknowledged one
	// (the first 20), StaleCount counts them all.
	ETagChecked int
	Stale       []string
	StaleCount  int
	SearchTotal uint64 // an unfiltered search's total
	StatsTotal  int64  // the unfiltered workload count of the analysis tables
}

// Verify checks, after Run, that every acknowledged incident is listed,
// that each incident written one at a time holds its last acknowledged
// version, and reads the search and analysis totals (with the listing's
// count they should agree when this runner made every incident). An error
// is a failed request; what is missing or stale is in the result.
func (r *Runner) Verify(ctx context.Context) (*Verification, error) {
	acked := r.reg.snapshot()
	v := &Verification{Acknowledged: len(acked)}
	token := r.cfg.Tokens[0]
	get := func(path string, out any) error {
		rep, err := r.send(ctx, token, http.MethodGet, path, "", nil, false)
		if err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		if rep.status != http.StatusOK {
			return fmt.Errorf("GET %s: status %d: %s", path, rep.status, snippet(rep.body))
		}
		if err := json.Unmarshal(rep.body, out); err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		return nil
	}

	listed := make(map[app.IncidentID]bool, len(acked))
	cursor := ""
	for {
		path := "/api/v1/incidents?limit=1000"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		var page listResp
		if err := get(path, &page); err != nil {
			return v, err
		}
		for _, s := range page.Incidents {
			listed[s.ID] = true
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	v.Listed = len(listed)
	for id := range acked {
		if !listed[id] {
			if v.MissingCount++; len(v.Missing) < 20 {
				v.Missing = append(v.Missing, id)
			}
		}
	}

	// The last ETag of each incident written one at a time.
	type job struct {
		id   app.IncidentID
		etag string
	}
	jobs := make(chan job)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range r.cfg.Clients {
		wg.Go(func() {
			for j := range jobs {
				path := incidentPath(j.id)
				rep, err := r.send(ctx, token, http.MethodGet, path, "", nil, false)
				mu.Lock()
				switch {
				case err != nil:
					if firstErr == nil {
						firstErr = fmt.Errorf("GET %s: %w", path, err)
					}
				case rep.status != http.StatusOK || rep.header.Get("ETag") != j.etag:
					if v.StaleCount++; len(v.Stale) < 20 {
						v.Stale = append(v.Stale, fmt.Sprintf("%s: status %d, ETag %s, last acknowledged %s",
							j.id, rep.status, rep.header.Get("ETag"), j.etag))
					}
				}
				v.ETagChecked++
				mu.Unlock()
			}
		})
	}
	for id, etag := range acked {
		if etag != "" && ctx.Err() == nil {
			jobs <- job{id, etag}
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return v, firstErr
	}

	var sr searchResp
	if err := get("/api/v1/search?limit=1", &sr); err != nil {
		return v, err
	}
	v.SearchTotal = sr.Total
	var counts struct {
		Incidents int64 `json:"incidents"`
	}
	if err := get("/api/v1/stats/workload/types", &counts); err != nil {
		return v, err
	}
	v.StatsTotal = counts.Incidents
	return v, ctx.Err()
}
