package codec_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"cadbox/app"
	"cadbox/app/codec"
)

// files returns the committed example and, when present beside the
// checkout, the real samples.
func files(t *testing.T) []string {
	t.Helper()
	out := []string{"../api/testdata/example_incident.json"}
	more, _ := filepath.Glob("../../../shared/samples/incidents/*.json")
	if len(more) == 0 {
		t.Log("real samples not present; using the committed example only")
	}
	return append(out, more...)
}

func TestRoundTripKeepsEveryMember(t *testing.T) {
	for _, f := range files(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			inc, err := codec.DecodeIncident(b)
			if err != nil {
				t.Fatal(err)
			}
			out, err := codec.Marshal(inc)
			if err != nil {
				t.Fatal(err)
			}
			var want, got any
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(want, got) {
				t.Fatalf("round trip changed the document:\n%s", out)
			}
		})
	}
}

func TestUnknownMembersKept(t *testing.T) {
	in := `{"fire_department":{"fd_id":"1","radio":"TAC 3"},"description":{"incident_number":"A1","event_opened":"2017-05-15T13:19:12-04:00","x_cad":{"b":2,"a":[1,{"z":1e300}]}},"custom":12345678901234567890}`
	inc, err := codec.DecodeIncident([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := codec.Marshal(inc)
	for _, want := range []string{`"radio":"TAC 3"`, `"custom":12345678901234567890`, `"x_cad":{"a":[1,{"z":1e300}],"b":2}`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("%s missing from %s", want, out)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name, in string
		code     app.Code
		ptr      string
	}{
		{"Empty", ``, app.EMALFORMED, ""},
		{"Truncated", `{"description":`, app.EMALFORMED, ""},
		{"NotObject", `[1]`, app.EINVALID, ""},
		{"StringForNumber", `{"address":{"latitude":"37.5"}}`, app.EINVALID, "/address/latitude"},
		{"NumberForString", `{"description":{"incident_number":5}}`, app.EINVALID, "/description/incident_number"},
		{"BadTime", `{"description":{"event_opened":"2017-13-45"}}`, app.EINVALID, "/description/event_opened"},
		{"FractionForInt", `{"description":{"alarms":1.5}}`, app.EINVALID, "/description/alarms"},
		{"HugeNumber", `{"address":{"latitude":1e999}}`, app.EINVALID, "/address/latitude"},
		{"DuplicateName", `{"version":"1","version":"2"}`, app.EINVALID, "/version"},
		{"InvalidUTF8", "{\"version\":\"\xff\"}", app.EMALFORMED, ""},
		{"TrailingGarbage", `{} {}`, app.EMALFORMED, ""},
		{"StatusNotObject", `{"apparatus":[{"unit_id":"E1","unit_status":{"~":5}}]}`, app.EINVALID, "/apparatus/0/unit_status/~0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := codec.DecodeIncident([]byte(tc.in))
			if got := app.ErrorCode(err); got != tc.code {
				t.Fatalf("code = %s, want %s (%v)", got, tc.code, err)
			}
			if tc.ptr == "" {
				return
			}
			fields := app.ErrorFields(err)
			if len(fields) == 0 || fields[0].Pointer != tc.ptr {
				t.Fatalf("fields = %+v, want pointer %s", fields, tc.ptr)
			}
		})
	}
}

func TestNullsAreAbsence(t *testing.T) {
	inc, err := codec.DecodeIncident([]byte(`{"fire_department":{"fd_id":"1"},"description":{"incident_number":"A1","event_opened":"2017-05-15T13:19:12-04:00","comments":null},"extra":null,
		"apparatus":[{"unit_id":"E1","unit_status":{"arrived":null}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := codec.Marshal(inc)
	if strings.Contains(string(out), "null") {
		t.Fatalf("nulls stored: %s", out)
	}
}
