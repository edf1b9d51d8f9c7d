package app_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"cadbox/app"
)

func inc(fd, num string) *app.Incident {
	return &app.Incident{
		FireDepartment: &app.FireDepartment{FDID: app.Ptr(fd)},
		Description:    &app.Description{IncidentNumber: app.Ptr(num), EventOpened: mustTime("2017-05-15T13:19:12-04:00")},
	}
}

func mustTime(s string) *app.Time {
	t, err := app.ParseTime(s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestMergeRules(t *testing.T) {
	t.Run("AbsentKeepsStored", func(t *testing.T) {
		dst := inc("1", "A")
		dst.Description.Comments = app.Ptr("FIRST")
		dst.Address = &app.Address{City: app.Ptr("Richmond")}
		src := inc("1", "A")
		app.Merge(dst, src)
		if got := app.Val(dst.Description.Comments); got != "FIRST" {
			t.Errorf("comments = %q, want FIRST", got)
		}
		if dst.Address == nil || app.Val(dst.Address.City) != "Richmond" {
			t.Errorf("address lost: %+v", dst.Address)
		}
	})
	t.Run("PresentReplacesScalar", func(t *testing.T) {
		dst, src := inc("1", "A"), inc("1", "A")
		dst.Description.Type = app.Ptr("EMS")
		src.Description.Type = app.Ptr("FIRE")
		src.Description.Subtype = app.Ptr("")
		app.Merge(dst, src)
		if app.Val(dst.Description.Type) != "FIRE" || dst.Description.Subtype == nil {
			t.Errorf("type=%v subtype=%v", app.Val(dst.Description.Type), dst.Description.Subtype)
		}
	})
	t.Run("ApparatusByUnitID", func(t *testing.T) {
		dst, src := inc("1", "A"), inc("1", "A")
		dst.Apparatus = []*app.Apparatus{
			{UnitID: app.Ptr("E1"), Station: app.Ptr("S1"), UnitStatus: map[string]*app.UnitStatus{"dispatched": {Timestamp: mustTime("2017-05-15T13:20:00-04:00")}}},
			{UnitID: app.Ptr("T1")},
		}
		src.Apparatus = []*app.Apparatus{
			{UnitID: app.Ptr("E1"), UnitStatus: map[string]*app.UnitStatus{
				"arrived":    {Timestamp: mustTime("2017-05-15T13:25:00-04:00")},
				"dispatched": {Latitude: app.Ptr(37.5)},
			}},
			{UnitID: app.Ptr("M9")},
		}
		app.Merge(dst, src)
		if len(dst.Apparatus) != 3 || app.Val(dst.Apparatus[2].UnitID) != "M9" || app.Val(dst.Apparatus[1].UnitID) != "T1" {
			t.Fatalf("units: %v", ids(dst.Apparatus))
		}
		e1 := dst.Apparatus[0]
		if app.Val(e1.Station) != "S1" {
			t.Errorf("station lost")
		}
		if e1.UnitStatus["arrived"] == nil {
			t.Errorf("arrived not added")
		}
		d := e1.UnitStatus["dispatched"]
		if d == nil || d.Timestamp == nil || app.Val(d.Latitude) != 37.5 {
			t.Errorf("dispatched not merged member by member: %+v", d)
		}
	})
	t.Run("ArraysReplaced", func(t *testing.T) {
		dst, src := inc("1", "A"), inc("1", "A")
		dst.Description.Units = []string{"E1", "T1"}
		src.Description.Units = []string{"E1"}
		app.Merge(dst, src)
		if !reflect.DeepEqual(dst.Description.Units, []string{"E1"}) {
			t.Errorf("units = %v", dst.Description.Units)
		}
	})
	t.Run("UnknownMembersDeepMerged", func(t *testing.T) {
		dst, src := inc("1", "A"), inc("1", "A")
		dst.Extra = app.Extra{"weather": json.RawMessage(`{"temp":70,"sky":{"clouds":1,"rain":0}}`), "kept": json.RawMessage(`1`)}
		src.Extra = app.Extra{"weather": json.RawMessage(`{"sky":{"rain":2,"fog":null}}`), "added": json.RawMessage(`"x"`), "kept": json.RawMessage(`null`)}
		app.Merge(dst, src)
		var w any
		if err := json.Unmarshal(dst.Extra["weather"], &w); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"temp": 70.0, "sky": map[string]any{"clouds": 1.0, "rain": 2.0}}
		if !reflect.DeepEqual(w, want) {
			t.Errorf("weather = %v, want %v", w, want)
		}
		if string(dst.Extra["kept"]) != "1" || string(dst.Extra["added"]) != `"x"` {
			t.Errorf("extra = %s / %s", dst.Extra["kept"], dst.Extra["added"])
		}
	})
}

func ids(us []*app.Apparatus) []string {
	var out []string
	for _, u := range us {
		out = append(out, app.Val(u.UnitID))
	}
	return out
}

func TestDiffApplyRoundTrip(t *testing.T) {
	docs := []string{
		`{"a":1,"b":{"c":2,"d":[1,2]},"apparatus":[{"unit_id":"E1","x":1},{"unit_id":"T1"}]}`,
		`{"a":1,"b":{"c":3},"e":"new","apparatus":[{"unit_id":"E1","x":2},{"unit_id":"M1"},{"unit_id":"T1"}]}`,
		`{"b":{"d":[3]},"apparatus":[]}`,
		`{"a":{"now":"object"}}`,
	}
	for i := range docs {
		for j := range docs {
			from, err := app.PatchTree([]byte(docs[i]))
			if err != nil {
				t.Fatal(err)
			}
			to, _ := app.PatchTree([]byte(docs[j]))
			patch := app.Diff(from, to)
			got, _ := app.PatchTree([]byte(docs[i]))
			got = app.ApplyPatch(got, patch)
			gj, err := app.TreeJSON(got)
			if err != nil {
				t.Fatal(err)
			}
			var a, b any
			json.Unmarshal(gj, &a)
			json.Unmarshal([]byte(docs[j]), &b)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%d->%d: got %s, want %s", i, j, gj, docs[j])
			}
		}
	}
}

func TestValidate(t *testing.T) {
	good := inc("76000", "F01705150050")
	if err := good.Validate(); err != nil {
		t.Fatalf("valid incident rejected: %v", err)
	}
	cases := map[string]struct {
		mutate func(*app.Incident)
		ptr    string
	}{
		"NoFDID":      {func(i *app.Incident) { i.FireDepartment = nil }, "/fire_department/fd_id"},
		"BadFDID":     {func(i *app.Incident) { i.FireDepartment.FDID = app.Ptr("../etc") }, "/fire_department/fd_id"},
		"NoNumber":    {func(i *app.Incident) { i.Description.IncidentNumber = nil }, "/description/incident_number"},
		"NoOpened":    {func(i *app.Incident) { i.Description.EventOpened = nil }, "/description/event_opened"},
		"BadTimezone": {func(i *app.Incident) { i.FireDepartment.Timezone = app.Ptr("Mars/Olympus") }, "/fire_department/timezone"},
		"Longitude":   {func(i *app.Incident) { i.Address = &app.Address{Longitude: app.Ptr(-181.0)} }, "/address/longitude"},
		"NoUnitID":    {func(i *app.Incident) { i.Apparatus = []*app.Apparatus{{}} }, "/apparatus/0/unit_id"},
		"DupUnit": {func(i *app.Incident) {
			i.Apparatus = []*app.Apparatus{{UnitID: app.Ptr("E1")}, {UnitID: app.Ptr("E1")}}
		}, "/apparatus/1/unit_id"},
		"StatusCoords": {func(i *app.Incident) {
			i.Apparatus = []*app.Apparatus{{UnitID: app.Ptr("E1"), UnitStatus: map[string]*app.UnitStatus{"a/b": {Latitude: app.Ptr(99.0)}}}}
		}, "/apparatus/0/unit_status/a~1b/latitude"},
		"HourOfDay": {func(i *app.Incident) { i.Description.HourOfDay = app.Ptr[int64](24) }, "/description/hour_of_day"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			i := inc("76000", "F01705150050")
			tc.mutate(i)
			err := i.Validate()
			if app.ErrorCode(err) != app.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
			for _, f := range app.ErrorFields(err) {
				if f.Pointer == tc.ptr {
					return
				}
			}
			t.Fatalf("no error at %s: %v", tc.ptr, err)
		})
	}
}
