package api_test

import (
	"strings"
	"testing"
)

func TestRequestIDFromClient(t *testing.T) {
	srv := newServer(t)
	cases := []struct {
		name, sent string
		kept       bool
	}{
		{"Plain", "lb-7f3a.01:2", true},
		{"TooLong", strings.Repeat("a", 65), false},
		{"Spaces", "id with spaces", false},
		{"Newline", "a\r\nb", false},
		{"TokenLike", "Bearer cbx_secret", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(t, srv, "GET", "/healthz", "", nil, "X-Request-ID", tc.sent)
			got := rec.Header().Get("X-Request-ID")
			if tc.kept && got != tc.sent {
				t.Fatalf("X-Request-ID = %q, want the client's %q", got, tc.sent)
			}
			if !tc.kept && (got == tc.sent || len(got) != 16) {
				t.Fatalf("X-Request-ID = %q, want a generated 16-character id in place of %q", got, tc.sent)
			}
		})
	}
}
