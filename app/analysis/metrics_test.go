package analysis

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata"
)

func unitByID(t *testing.T, im *IncidentMetrics, id string) *UnitMetrics {
	t.Helper()
	for i := range im.Units {
		if im.Units[i].UnitID == id {
			return &im.Units[i]
		}
	}
	t.Fatalf("no unit %s", id)
	return nil
}

// wantValue checks a value and its flag reasons (in order). A first
// reason Missing means the value must be absent.
func wantValue(t *testing.T, what string, v *Value, seconds int64, reasons ...Reason) {
	t.Helper()
	if len(reasons) > 0 && reasons[0] == Missing {
		if v.Present {
			t.Errorf("%s: present (%d s), want missing", what, v.Seconds)
		}
	} else if !v.Present || v.Seconds != seconds {
		t.Errorf("%s = %d s (present %v), want %d s", what, v.Seconds, v.Present, seconds)
	}
	var got []Reason
	for _, f := range v.Flags {
		got = append(got, f.Reason)
	}
	same := len(got) == len(reasons)
	for i := 0; same && i < len(got); i++ {
		same = got[i] == reasons[i]
	}
	if !same {
		t.Errorf("%s flags = %v, want %v (%+v)", what, got, reasons, v.Flags)
	}
}

func compute(t *testing.T, name string) *IncidentMetrics {
	t.Helper()
	im, err := Compute(sample(t, name), Config{})
	if err != nil {
		t.Fatal(err)
	}
	return im
}

// F01705150050 (Richmond, HAZMAT): four units, each cleared before it
// arrived. Every expectation was computed by hand from the timestamps.
func TestSampleF01705150050(t *testing.T) {
	for _, name := range []string{"jkugler__pe-take-home__F01705150050.json", "mbrinkg8tr__PEProject__F01705150050.edited.json"} {
		t.Run(name, func(t *testing.T) {
			im := compute(t, name)
			// E22: dispatched 13:19:31, enroute 13:20:52, arrived 13:32:20,
			// cleared 13:29:02, available 14:46:45.
			e22 := unitByID(t, im, "E22")
			wantValue(t, "E22 turnout", e22.Value(Turnout), 81)
			wantValue(t, "E22 travel", e22.Value(Travel), 688)
			wantValue(t, "E22 response", e22.Value(Response), 769)
			wantValue(t, "E22 on_scene", e22.Value(OnScene), -198, Negative)
			wantValue(t, "E22 commitment", e22.Value(Commitment), 571, OutOfOrder)
			if f := e22.Value(OnScene).Flags[0].Detail; !strings.Contains(f, "cleared (2017-05-15T13:29:02-04:00) is before arrived (2017-05-15T13:32:20-04:00)") {
				t.Errorf("on_scene detail %q", f)
			}
			if p := e22.Value(Turnout).Provided; len(p) != 1 || p[0].Seconds != 81 || p[0].Source != "apparatus.extended_data.turnout_duration" {
				t.Errorf("E22 turnout provided %+v", p)
			}
			h3 := unitByID(t, im, "H3")
			wantValue(t, "H3 turnout", h3.Value(Turnout), 258)
			wantValue(t, "H3 travel", h3.Value(Travel), 504)
			wantValue(t, "H3 on_scene", h3.Value(OnScene), -8, Negative)
			wantValue(t, "H3 commitment", h3.Value(Commitment), 754, OutOfOrder)
			t22 := unitByID(t, im, "T22")
			wantValue(t, "T22 turnout", t22.Value(Turnout), 49)
			wantValue(t, "T22 travel", t22.Value(Travel), 713)
			wantValue(t, "T22 on_scene", t22.Value(OnScene), -227, Negative)
			h2 := unitByID(t, im, "H2")
			wantValue(t, "H2 response", h2.Value(Response), 761)

			wantValue(t, "alarm_processing", im.Value(AlarmProcessing), 18)
			wantValue(t, "first_turnout", im.Value(FirstTurnout), 49)
			wantValue(t, "first_travel", im.Value(FirstTravel), 713)
			wantValue(t, "first_response", im.Value(FirstResponse), 762)
			wantValue(t, "total_event", im.Value(TotalEvent), 5254)
			wantValue(t, "first_engine_travel", im.Value(FirstEngineTravel), 688)
			wantValue(t, "alarm_answering", im.Value(AlarmAnswering), 0, Missing)
			wantValue(t, "alarm_handling", im.Value(AlarmHandling), 0, Missing)
			wantValue(t, "total_response", im.Value(TotalResponse), 0, Missing)
			if got := im.Units[im.FirstArriving].UnitID; got != "H3" {
				t.Errorf("first arriving %s, want H3 (first listed of the three at 13:32:12)", got)
			}
			if got := im.Units[im.FirstEngine].UnitID; got != "E22" {
				t.Errorf("first engine %s", got)
			}
			if im.EMS {
				t.Error("HAZMAT classified as EMS")
			}
			if im.Local != (Local{Hour: 13, Weekday: time.Monday, Year: 2017, Month: time.May}) || im.TimezoneNote != "" {
				t.Errorf("local %+v %q", im.Local, im.TimezoneNote)
			}
		})
	}
}

// F01705150090 (Richmond, EMS-1STRESP): the export's dispatch_duration
// (8) and response_time (306) are 1 s off the timestamps (9, 305): within
// the tolerance, so not flagged.
func TestSampleF01705150090(t *testing.T) {
	im := compute(t, "jkugler__pe-take-home__F01705150090.json")
	e21 := unitByID(t, im, "E21")
	wantValue(t, "E21 turnout", e21.Value(Turnout), 51)
	wantValue(t, "E21 travel", e21.Value(Travel), 254)
	wantValue(t, "E21 response", e21.Value(Response), 305)
	wantValue(t, "E21 on_scene (available, no cleared)", e21.Value(OnScene), 665)
	wantValue(t, "E21 commitment", e21.Value(Commitment), 970)
	wantValue(t, "alarm_processing", im.Value(AlarmProcessing), 9)
	wantValue(t, "first_response", im.Value(FirstResponse), 305)
	wantValue(t, "total_event", im.Value(TotalEvent), 980)
	if !im.EMS {
		t.Error("EMS-1STRESP not classified as EMS")
	}
	// A 1-second tolerance flags both.
	im2, err := Compute(sample(t, "jkugler__pe-take-home__F01705150090.json"), Config{Tolerance: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	wantValue(t, "alarm_processing tol 0.5", im2.Value(AlarmProcessing), 9, Disagrees)
	wantValue(t, "first_response tol 0.5", im2.Value(FirstResponse), 305, Disagrees)
}

// F01805170145 (Richmond, StatEngine-enriched): our first-unit figures
// equal StatEngine's durations; the first-arriving engine is E16 (T10
// arrived first overall).
func TestSampleF01805170145(t *testing.T) {
	im := compute(t, "StatEngine__stat-engine__mapbox.helpers.spec.js.F01805170145.json")
	wantValue(t, "alarm_answering", im.Value(AlarmAnswering), 0)
	wantValue(t, "alarm_processing", im.Value(AlarmProcessing), 8)
	wantValue(t, "alarm_handling", im.Value(AlarmHandling), 8)
	wantValue(t, "first_turnout", im.Value(FirstTurnout), 63)
	wantValue(t, "first_travel", im.Value(FirstTravel), 298)
	wantValue(t, "first_response", im.Value(FirstResponse), 361)
	wantValue(t, "total_response", im.Value(TotalResponse), 369)
	wantValue(t, "total_event", im.Value(TotalEvent), 991)
	wantValue(t, "first_engine_travel", im.Value(FirstEngineTravel), 288)
	if got := im.Units[im.FirstArriving].UnitID; got != "T10" {
		t.Errorf("first arriving %s", got)
	}
	if got := im.Units[im.FirstEngine].UnitID; got != "E16" {
		t.Errorf("first engine %s", got)
	}
	wantValue(t, "E14 travel", unitByID(t, im, "E14").Value(Travel), 541)
	if im.EMS {
		t.Error("category FIRE classified as EMS")
	}
}

// 17073664 (San Francisco): a chief dispatched and available, nothing
// else; psap answered 211 s before the event was opened.
func TestSampleSanFrancisco(t *testing.T) {
	im := compute(t, "StatEngine__se-documenation__docs_onPremise.md.17073664.json")
	b05 := unitByID(t, im, "B05")
	wantValue(t, "B05 turnout", b05.Value(Turnout), 0, Missing)
	wantValue(t, "B05 on_scene", b05.Value(OnScene), 0, Missing)
	wantValue(t, "B05 commitment", b05.Value(Commitment), 100)
	wantValue(t, "alarm_answering", im.Value(AlarmAnswering), 211)
	wantValue(t, "alarm_processing", im.Value(AlarmProcessing), 26)
	wantValue(t, "alarm_handling", im.Value(AlarmHandling), 237)
	wantValue(t, "first_response", im.Value(FirstResponse), 0, Missing)
	wantValue(t, "first_engine_travel", im.Value(FirstEngineTravel), 0, Missing)
	wantValue(t, "total_event", im.Value(TotalEvent), 126)
	if im.Local.Hour != 20 || im.Local.Weekday != time.Friday {
		t.Errorf("local %+v, want 20h Friday in US/Pacific", im.Local)
	}
}

func TestFlags(t *testing.T) {
	opened := time.Date(2020, 3, 1, 12, 0, 0, 0, time.UTC)
	inc := mk("1", "A", "UTC", opened, "FIRE", 200000,
		unitSpec{id: "E1", typ: "Engine", st: map[string]int{"dispatched": 10, "enroute": 5, "arrived": 700}},
		unitSpec{id: "E2", typ: "Engine", st: map[string]int{"dispatched": 10, "enroute": 900, "arrived": 5000}})
	inc.Apparatus[1].ExtendedData = nil
	im, err := Compute(inc, Config{Bounds: map[Metric]Bounds{Travel: {Min: 10, Max: 3000}}})
	if err != nil {
		t.Fatal(err)
	}
	e1, e2 := unitByID(t, im, "E1"), unitByID(t, im, "E2")
	wantValue(t, "E1 turnout", e1.Value(Turnout), -5, Negative)
	wantValue(t, "E1 travel", e1.Value(Travel), 695)
	wantValue(t, "E2 turnout (> 600 s)", e2.Value(Turnout), 890, Implausible)
	wantValue(t, "E2 travel (> configured 3000 s)", e2.Value(Travel), 4100, Implausible)
	wantValue(t, "E1 on_scene", e1.Value(OnScene), 0, Missing)
	wantValue(t, "total_event (> 2 days)", im.Value(TotalEvent), 200000, Implausible)
	// The first-arriving engine is E1 even though its turnout is flagged.
	wantValue(t, "first_engine_travel", im.Value(FirstEngineTravel), 695)
	if _, err := Compute(inc, Config{Bounds: map[Metric]Bounds{Travel: {Min: 10, Max: 1}}}); err == nil {
		t.Error("min > max accepted")
	}
}

// An incident at 01:30 local on the US fall-back day happens twice; both
// are hour 1 on Sunday in US/Eastern. The same instants are Saturday
// evening in US/Pacific.
func TestLocalTimeDST(t *testing.T) {
	edt := time.Date(2017, 11, 5, 5, 30, 0, 0, time.UTC) // 01:30 EDT
	est := time.Date(2017, 11, 5, 6, 30, 0, 0, time.UTC) // 01:30 EST
	for _, c := range []struct {
		at       time.Time
		tz       string
		hour     int
		weekday  time.Weekday
		month    time.Month
		wantNote bool
	}{
		{edt, "US/Eastern", 1, time.Sunday, time.November, false},
		{est, "US/Eastern", 1, time.Sunday, time.November, false},
		{edt, "US/Pacific", 22, time.Saturday, time.November, false},
		{est, "US/Pacific", 23, time.Saturday, time.November, false},
		// 2017-06-01 02:00Z is still May in California.
		{time.Date(2017, 6, 1, 2, 0, 0, 0, time.UTC), "US/Pacific", 19, time.Wednesday, time.May, false},
		{time.Date(2017, 6, 1, 2, 0, 0, 0, time.UTC), "", 2, time.Thursday, time.June, true},
	} {
		im, err := Compute(mk("1", "A", c.tz, c.at, "X", -1), Config{})
		if err != nil {
			t.Fatal(err)
		}
		if im.Local.Hour != c.hour || im.Local.Weekday != c.weekday || im.Local.Month != c.month || (im.TimezoneNote != "") != c.wantNote {
			t.Errorf("%s in %q: %+v %q, want %d h %s %s", c.at, c.tz, im.Local, im.TimezoneNote, c.hour, c.weekday, c.month)
		}
	}
}

func TestClassification(t *testing.T) {
	cfg := DefaultConfig()
	c, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		category, typ string
		ems           bool
	}{
		{"", "EMS-1STRESP", true},
		{"", "ems call", true},
		{"", "HAZMAT", false},
		{"EMS", "FIRE-ALARM", true},
		{"FIRE", "EMS-ODD", false},
		{"Other", "", false},
	} {
		if got := c.isEMS(tc.category, tc.typ); got != tc.ems {
			t.Errorf("isEMS(%q, %q) = %v", tc.category, tc.typ, got)
		}
	}
	c.EMSTypePrefixes = []string{"MED"}
	if !c.isEMS("", "MEDICAL") || c.isEMS("", "EMS-1") {
		t.Error("configured prefixes not used")
	}
}
