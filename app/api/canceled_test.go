package api_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"testing"
)

// TestClientGoneIsNotAServerError: a request whose client has gone is
// recorded as 499, not a 500 problem.
func TestClientGoneIsNotAServerError(t *testing.T) {
	srv := newServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	body := bytes.Join([][]byte{doc("1", "G1", "2017-05-15T13:19:12-04:00", ""), doc("1", "G2", "2017-05-15T13:19:12-04:00", "")}, []byte("\n"))
	req := httptest.NewRequest("POST", "/api/v1/incidents", bytes.NewReader(body)).WithContext(ctx)
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+srv.token)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != 499 {
		t.Fatalf("status %d (%s), want 499", rec.Code, rec.Body)
	}
}
