package pack

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"cadbox/app"
	"cadbox/app/codec"
	"cadbox/app/fixture"

	"github.com/mmcloughlin/geohash"
)

// roundTripApparatus packs u, stores the rest as JSON, reads both back
// and requires the JSON of the result to be the JSON of u, byte for
// byte. It returns how many statuses were packed and the rest's JSON.
// roundTrip packs v with packFn, reads the packed bytes back with read
// and checks that they and the JSON of the rest restore v exactly,
// without packFn changing v, and returns what read returned and the rest
// as JSON.
func roundTrip[T any, R interface{ Restore(*T) error }](t testing.TB, v *T, packFn func([]byte, *T) ([]byte, *T), read func([]byte) (R, int, error)) (parts R, restJSON []byte) {
	t.Helper()
	want, err := codec.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	b, rest := packFn([]byte("prefix"), v)
	if !bytes.HasPrefix(b, []byte("prefix")) {
		t.Fatal("packing did not append to dst")
	}
	b = b[len("prefix"):]
	if again, _ := codec.Marshal(v); !bytes.Equal(again, want) {
		t.Fatalf("packing changed its input:\n%s\n%s", want, again)
	}
	restJSON, err = codec.Marshal(rest)
	if err != nil {
		t.Fatal(err)
	}
	// Trailing bytes stand for the compressed JSON that follows.
	p, n, err := read(append(b, "trailing"...))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if n != len(b) {
		t.Fatalf("read took %d bytes, packing wrote %d", n, len(b))
	}
	got := new(T)
	if err := codec.Unmarshal(restJSON, got); err != nil {
		t.Fatal(err)
	}
	if err := p.Restore(got); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	gj, err := codec.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gj, want) {
		t.Fatalf("round trip differs:\n got %s\nwant %s", gj, want)
	}
	return p, restJSON
}

func roundTripApparatus(t testing.TB, u *app.Apparatus) (packed int, restJSON []byte) {
	t.Helper()
	p, restJSON := roundTrip(t, u, Apparatus, ReadApparatus)
	return p.Len(), restJSON
}

func roundTripIncident(t testing.TB, inc *app.Incident) (restJSON []byte) {
	t.Helper()
	_, restJSON = roundTrip(t, inc, Incident, ReadIncident)
	return restJSON
}

func TestGeneratedRoundTrip(t *testing.T) {
	n := 600
	if testing.Short() {
		n = 100
	}
	var statuses, packed int
	for _, seed := range []uint64{1, 20170515} {
		g := fixture.New(seed)
		for i := range n / 2 {
			inc := g.Incident(i)
			versions := []*app.Incident{inc}
			for step := range fixture.Steps {
				versions = append(versions, g.Update(inc, step))
			}
			for _, v := range versions {
				h := *v
				h.Apparatus = nil
				rest := roundTripIncident(t, &h)
				if bytes.Contains(rest, []byte(`"event_opened"`)) || bytes.Contains(rest, []byte(`"geohash"`)) {
					t.Fatalf("generated timestamps and positions stayed in the JSON: %s", rest)
				}
				for _, u := range v.Apparatus {
					k, _ := roundTripApparatus(t, u)
					statuses += len(u.UnitStatus)
					packed += k
				}
			}
		}
	}
	// The generator writes only what packs: every status must have.
	if packed != statuses {
		t.Fatalf("packed %d of %d generated statuses", packed, statuses)
	}
}

// TestGeneratedGeohashes checks that every geohash the generator writes
// is the exact geohash of its position: what the generator's own
// bisection encoder wrote before it used the library, and what lets the
// packer derive them all.
func TestGeneratedGeohashes(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 100
	}
	check := func(what string, gh *string, lat, lon *float64) {
		t.Helper()
		if gh == nil {
			return
		}
		if lat == nil || lon == nil {
			t.Fatalf("%s: geohash %s without a position", what, *gh)
		}
		if want := exactGeohash(*lat, *lon, len(*gh)); *gh != want {
			t.Fatalf("%s: geohash %s of %v,%v, exact %s", what, *gh, *lat, *lon, want)
		}
	}
	g := fixture.New(5)
	for i := range n {
		inc := g.Incident(i)
		for _, v := range []*app.Incident{inc, g.Update(inc, 0), g.Update(inc, fixture.Steps-1)} {
			if a := v.Address; a != nil {
				check("address", a.Geohash, a.Latitude, a.Longitude)
			}
			for _, u := range v.Apparatus {
				for k, st := range u.UnitStatus {
					check(app.Val(u.UnitID)+" "+k, st.Geohash, st.Latitude, st.Longitude)
				}
			}
		}
	}
}

func decodeApparatus(t testing.TB, js string) *app.Apparatus {
	t.Helper()
	u := new(app.Apparatus)
	if err := codec.Unmarshal([]byte(js), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestApparatusEdgeCases(t *testing.T) {
	for _, tc := range []struct {
		name   string
		json   string
		packed int
		inJSON []string // what must stay in the JSON
		notIn  []string // what must not
	}{
		{"typical", `{"unit_id":"E1","geohash":"dq8vtnb49tc1","unit_status":{"arrived":{"timestamp":"2016-12-31T19:14:47-05:00","latitude":37.566836,"longitude":-77.47552,"geohash":"dq8vtnb49tc1"}}}`,
			1, nil, []string{"geohash", "unit_status"}},
		{"fractional seconds", `{"unit_status":{"arrived":{"timestamp":"2016-12-31T19:14:47.5-05:00"}}}`, 0, []string{"19:14:47.5"}, nil},
		{"fractional zero", `{"unit_status":{"arrived":{"timestamp":"2016-12-31T19:14:47.000-05:00"}}}`, 0, []string{"47.000"}, nil},
		{"Z", `{"unit_status":{"arrived":{"timestamp":"2016-12-31T19:14:47Z"}}}`, 1, nil, []string{"unit_status"}},
		{"+00:00", `{"unit_status":{"arrived":{"timestamp":"2016-12-31T19:14:47+00:00"}}}`, 0, []string{"+00:00"}, nil},
		{"-00:00", `{"unit_status":{"arrived":{"timestamp":"2016-12-31T19:14:47-00:00"}}}`, 0, []string{"-00:00"}, nil},
		{"offsets", `{"unit_status":{"a":{"timestamp":"2016-12-31T19:14:47-05:00"},"b":{"timestamp":"2016-12-31T19:14:47+05:30"},"c":{"timestamp":"2016-12-31T19:14:47+05:30"},"d":{"timestamp":"1969-12-31T23:59:59-09:45"},"e":{"timestamp":"0001-01-01T00:00:00Z"},"f":{"timestamp":"9999-12-31T23:59:59+14:00"}}}`,
			6, nil, []string{"unit_status"}},
		{"seven decimals", `{"unit_status":{"arrived":{"latitude":37.1234567,"longitude":-77.5}}}`, 0, []string{"37.1234567"}, nil},
		{"longitude eight decimals", `{"unit_status":{"arrived":{"latitude":37.5,"longitude":-77.12345678}}}`, 0, []string{"-77.12345678"}, nil},
		{"zero position", `{"unit_status":{"arrived":{"latitude":0,"longitude":0,"geohash":"s00000000000"}}}`, 1, nil, []string{"unit_status"}},
		{"negative zero", `{"unit_status":{"arrived":{"latitude":-0,"longitude":1}}}`, 0, []string{"-0"}, nil},
		{"no position", `{"unit_status":{"arrived":{"timestamp":"2016-12-31T19:14:47-05:00","geohash":"dq8vtnb49tc1"}}}`, 1, nil, []string{"unit_status"}},
		{"latitude only", `{"unit_status":{"arrived":{"latitude":37.5}}}`, 1, nil, []string{"unit_status"}},
		{"geohash not of its position", `{"unit_status":{"arrived":{"latitude":37.566836,"longitude":-77.47552,"geohash":"dq8vtnb49tc2"}}}`, 1, nil, []string{"unit_status"}},
		{"geohash shorter", `{"unit_status":{"arrived":{"latitude":37.566836,"longitude":-77.47552,"geohash":"dq8vt"}}}`, 1, nil, []string{"unit_status"}},
		{"geohash longer than 12", `{"unit_status":{"arrived":{"latitude":37.566836,"longitude":-77.47552,"geohash":"dq8vtnb49tc1zz"}}}`, 1, nil, []string{"unit_status"}},
		{"geohash empty", `{"unit_status":{"arrived":{"latitude":37.566836,"longitude":-77.47552,"geohash":""}}}`, 1, nil, []string{"unit_status"}},
		{"geohash upper case", `{"unit_status":{"arrived":{"latitude":37.566836,"longitude":-77.47552,"geohash":"DQ8VTNB49TC1"}}}`, 1, nil, []string{"unit_status"}},
		{"pole and antimeridian", `{"unit_status":{"a":{"latitude":90,"longitude":180,"geohash":"upbpbpbpbpbp"},"b":{"latitude":-90,"longitude":-180,"geohash":"000000000000"}}}`, 2, nil, []string{"unit_status"}},
		{"order", `{"unit_status":{"arrived":{"timestamp":"2016-12-31T19:14:47-05:00","order":3},"x":{"order":-9223372036854775808},"y":{"order":9223372036854775807}}}`, 3, nil, []string{"unit_status"}},
		{"extra member", `{"unit_status":{"arrived":{"timestamp":"2016-12-31T19:14:47-05:00","note":"x"},"cleared":{"timestamp":"2016-12-31T19:20:47-05:00"}}}`, 1, []string{`"note"`, `"arrived"`}, []string{`"cleared"`}},
		{"tilde and unknown keys", `{"unit_status":{"~":{"timestamp":"2016-12-31T19:14:47-05:00"},"on scene (2)":{"timestamp":"2016-12-31T19:14:48-05:00"},"":{"timestamp":"2016-12-31T19:14:49-05:00"},"é":{}}}`, 4, nil, []string{"unit_status"}},
		{"every table key", `{"unit_status":{"dispatched":{},"enroute":{},"arrived":{},"cleared":{},"available":{},"acknowledged":{},"~":{},"transport":{},"transporting":{},"at_hospital":{},"on_scene":{},"in_quarters":{},"staged":{},"cancelled":{}}}`, 14, nil, []string{"unit_status"}},
		{"empty status", `{"unit_status":{"arrived":{}}}`, 1, nil, []string{"unit_status"}},
		{"empty map", `{"unit_id":"E1","unit_status":{}}`, 0, []string{`"unit_status":{}`}, nil},
		{"no map", `{"unit_id":"E1"}`, 0, nil, []string{"unit_status"}},
		{"null status", `{"unit_status":{"arrived":null}}`, 0, []string{`"arrived":null`}, nil},
		{"no timestamp", `{"unit_status":{"arrived":{"latitude":37.5,"longitude":-77.25}}}`, 1, nil, []string{"unit_status"}},
		{"apparatus geohash not a status's", `{"geohash":"zzz","unit_status":{"arrived":{"geohash":"dq8"}}}`, 1, []string{`"geohash":"zzz"`}, nil},
		{"apparatus geohash of a literal", `{"geohash":"nothash","unit_status":{"arrived":{"geohash":"nothash"},"b":{"geohash":"nothash"}}}`, 2, nil, []string{"geohash"}},
		{"apparatus geohash of an unpacked status", `{"geohash":"dq8","unit_status":{"arrived":{"geohash":"dq8","note":1}}}`, 0, []string{`"geohash":"dq8","unit_status"`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := decodeApparatus(t, tc.json)
			packed, rest := roundTripApparatus(t, u)
			if packed != tc.packed {
				t.Errorf("packed %d statuses, want %d (rest %s)", packed, tc.packed, rest)
			}
			for _, s := range tc.inJSON {
				if !bytes.Contains(rest, []byte(s)) {
					t.Errorf("rest %s lacks %s", rest, s)
				}
			}
			for _, s := range tc.notIn {
				if bytes.Contains(rest, []byte(s)) {
					t.Errorf("rest %s has %s", rest, s)
				}
			}
		})
	}
}

func TestIncidentEdgeCases(t *testing.T) {
	for _, tc := range []struct {
		name          string
		json          string
		inJSON, notIn []string
	}{
		{"typical", `{"address":{"latitude":37.566979,"longitude":-77.474284,"geohash":"dq8vtnbgw26y","city":"Richmond"},"description":{"incident_number":"1","event_opened":"2016-12-31T19:09:05-05:00","event_closed":"2016-12-31T19:36:33-05:00","psap_answer_time":"2016-12-31T19:08:55-05:00","first_unit_dispatched":"2016-12-31T19:10:15-05:00","first_unit_enroute":"2016-12-31T19:11:09-05:00","first_unit_arrived":"2016-12-31T19:14:47-05:00","loi_search_complete":"2016-12-31T19:09:06-05:00"}}`,
			[]string{`"address":{"city":"Richmond"}`}, []string{"event", "first", "psap", "loi", "latitude", "longitude", "geohash"}},
		{"mixed offsets and fallbacks", `{"description":{"event_opened":"2016-12-31T19:09:05.5-05:00","event_closed":"2017-01-01T00:36:33Z","first_unit_dispatched":"2016-12-31T19:10:15+00:00","first_unit_enroute":"2016-12-31T16:11:09-08:00","first_unit_arrived":"2016-12-31T19:14:47-05:00"}}`,
			[]string{"19:09:05.5", "+00:00"}, []string{"event_closed", "enroute", "arrived"}},
		{"address without description", `{"address":{"latitude":0,"longitude":0,"geohash":"s0"}}`, []string{`"address":{}`}, []string{"latitude", "geohash"}},
		{"address geohash not derived", `{"address":{"latitude":37.5,"longitude":-77.25,"geohash":"zzz"}}`, []string{`"geohash":"zzz"`}, []string{"latitude"}},
		{"address seven decimals", `{"address":{"latitude":37.1234567,"longitude":-77.25,"geohash":"dq8"}}`, []string{"37.1234567", `"geohash":"dq8"`}, []string{"longitude"}},
		{"address derived with unpacked latitude", `{"address":{"latitude":37.1234567,"longitude":-77.25,"geohash":"` + geohash.EncodeWithPrecision(37.1234567, -77.25, 9) + `"}}`, []string{"37.1234567"}, []string{"geohash", "longitude"}},
		{"pole", `{"address":{"latitude":90,"longitude":180,"geohash":"upbpbpbpbpbp"}}`, []string{"upbpbpbpbpbp"}, nil},
		{"nothing to pack", `{"version":"1"}`, nil, nil},
		{"empty description", `{"description":{}}`, []string{`"description":{}`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inc := new(app.Incident)
			if err := codec.Unmarshal([]byte(tc.json), inc); err != nil {
				t.Fatal(err)
			}
			rest := roundTripIncident(t, inc)
			for _, s := range tc.inJSON {
				if !bytes.Contains(rest, []byte(s)) {
					t.Errorf("rest %s lacks %s", rest, s)
				}
			}
			for _, s := range tc.notIn {
				if bytes.Contains(rest, []byte(s)) {
					t.Errorf("rest %s has %s", rest, s)
				}
			}
		})
	}
}

func TestStatusKeyTable(t *testing.T) {
	seen := map[string]bool{}
	for c := uint64(1); c < numCodes; c++ {
		k, ok := statusKey(c)
		if !ok || seen[k] {
			t.Fatalf("code %d: key %q, ok %v, seen before %v", c, k, ok, seen[k])
		}
		seen[k] = true
		if got := statusCode(k); got != c {
			t.Fatalf("statusCode(%q) = %d, want %d", k, got, c)
		}
	}
	for _, c := range []uint64{0, numCodes, numCodes + 1} {
		if k, ok := statusKey(c); ok {
			t.Fatalf("statusKey(%d) = %q beyond the table", c, k)
		}
	}
	if statusCode("not a key") != 0 {
		t.Fatal("statusCode of an unknown key is not 0")
	}
}

// exactGeohash is the geohash by bisection: every midpoint is a dyadic
// fraction of the range, exact in float64, so this is the geohash of the
// float64 value itself, with no rounding anywhere.
func exactGeohash(lat, lon float64, precision int) string {
	const alphabet = "0123456789bcdefghjkmnpqrstuvwxyz"
	latLo, latHi, lonLo, lonHi := -90.0, 90.0, -180.0, 180.0
	out := make([]byte, 0, precision)
	even := true
	ch, bits := 0, 0
	for len(out) < precision {
		if even {
			if mid := (lonLo + lonHi) / 2; lon >= mid {
				ch, lonLo = ch<<1|1, mid
			} else {
				ch, lonHi = ch<<1, mid
			}
		} else {
			if mid := (latLo + latHi) / 2; lat >= mid {
				ch, latLo = ch<<1|1, mid
			} else {
				ch, latHi = ch<<1, mid
			}
		}
		even = !even
		if bits++; bits == 5 {
			out = append(out, alphabet[ch])
			ch, bits = 0, 0
		}
	}
	return string(out)
}

// libraryGoGeohash is the library's pure-Go integer encoding (what it
// runs without BMI2, and on other architectures), reimplemented: this
// machine may run its assembly instead.
func libraryGoGeohash(lat, lon float64, precision int) string {
	const alphabet = "0123456789bcdefghjkmnpqrstuvwxyz"
	latI := uint64(uint32((lat + 90) / 180 * math.Exp2(32)))
	lonI := uint64(uint32((lon + 180) / 360 * math.Exp2(32)))
	var h uint64
	for i := 31; i >= 0; i-- {
		h = h<<2 | (lonI>>uint(i)&1)<<1 | latI>>uint(i)&1
	}
	h >>= 64 - 5*uint(precision)
	out := make([]byte, precision)
	for i := precision - 1; i >= 0; i-- {
		out[i] = alphabet[h&31]
		h >>= 5
	}
	return string(out)
}

// TestGeohashExact backs the format's claim that a derived geohash reads
// back the same on any machine: for positions in whole micro-degrees the
// library (whichever implementation runs here), its pure-Go encoding and
// exact bisection agree. Disagreement needs a position within float64
// rounding of a cell edge; cell edges in whole micro-degrees fall at
// multiples of 0.703125° (lat) and 1.40625° (lon), which are exact in
// binary, so every edge and its neighbours are checked, at every
// precision, and random positions besides.
func TestGeohashExact(t *testing.T) {
	check := func(lat, lon float64) {
		t.Helper()
		for p := 1; p <= maxPrecision; p++ {
			want := exactGeohash(lat, lon, p)
			got, ok := derivedGeohash(lat, lon, p)
			if !ok {
				t.Fatalf("derivedGeohash(%v, %v, %d) not defined", lat, lon, p)
			}
			if got != want {
				t.Fatalf("library geohash(%v, %v, %d) = %s, exact %s", lat, lon, p, got, want)
			}
			if g := libraryGoGeohash(lat, lon, p); g != want {
				t.Fatalf("library pure-Go geohash(%v, %v, %d) = %s, exact %s", lat, lon, p, g, want)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	const edge = 703125 // micro-degrees between lat edges at 30 bits that are whole micro-degrees
	for m := int64(0); m*edge <= 180e6; m++ {
		for d := int64(-2); d <= 2; d++ {
			if k := m*edge + d - 90e6; k >= -90e6 && k < 90e6 {
				check(fromMicro(k), fromMicro(r.Int64N(360e6)-180e6))
			}
		}
	}
	for m := int64(0); m*2*edge <= 360e6; m++ {
		for d := int64(-2); d <= 2; d++ {
			if k := m*2*edge + d - 180e6; k >= -180e6 && k < 180e6 {
				check(fromMicro(r.Int64N(180e6)-90e6), fromMicro(k))
			}
		}
	}
	n := 200000
	if testing.Short() {
		n = 20000
	}
	for range n {
		check(fromMicro(r.Int64N(180e6)-90e6), fromMicro(r.Int64N(360e6)-180e6))
	}
	// The two places the library's implementations disagree are not
	// derived at all.
	for _, p := range [][2]float64{{90, 0}, {0, 180}, {90.5, 0}, {0, -180.5}, {math.NaN(), 0}} {
		if _, ok := derivedGeohash(p[0], p[1], 12); ok {
			t.Errorf("derivedGeohash(%v, %v) is defined", p[0], p[1])
		}
	}
}

func TestMicroDegrees(t *testing.T) {
	for _, tc := range []struct {
		x  float64
		ok bool
	}{
		{37.566836, true}, {-77.47552, true}, {0, true}, {180, true}, {-90, true}, {1e-6, true}, {-1e-6, true},
		{math.Nextafter(0.3, 1), false}, {math.Nextafter(37.566836, 0), false},
		{37.1234567, false}, {1e-7, false}, {math.Copysign(0, -1), false}, {math.NaN(), false}, {math.Inf(1), false}, {1e10, false},
	} {
		m, ok := microDegrees(tc.x)
		if ok != tc.ok {
			t.Errorf("microDegrees(%v) ok = %v, want %v", tc.x, ok, tc.ok)
		}
		if ok && math.Float64bits(fromMicro(m)) != math.Float64bits(tc.x) {
			t.Errorf("microDegrees(%v) = %d, which reads back as %v", tc.x, m, fromMicro(m))
		}
	}
}

func TestReadCorrupt(t *testing.T) {
	u := decodeApparatus(t, `{"geohash":"dq8vtnb49tc1","unit_status":{"arrived":{"timestamp":"2016-12-31T19:14:47-05:00","latitude":37.566836,"longitude":-77.47552,"geohash":"dq8vtnb49tc1"},"x y":{"geohash":"abc","order":2}}}`)
	good, _ := Apparatus(nil, u)
	for i := range good {
		if _, _, err := ReadApparatus(good[:i]); err == nil {
			t.Errorf("ReadApparatus of %d of %d bytes succeeded", i, len(good))
		}
	}
	for _, b := range [][]byte{
		{},
		{1, 0, 99, 0},                    // unknown key code
		{1, 0, 1, 0x80},                  // reserved flag
		{1, 0, 1, 0x02},                  // offset without a timestamp
		{1, 0, 1, 0x01, 0},               // timestamp without an offset
		{1, 0, 1, 1 << 5},                // derived geohash without a position
		{1, 2, 1, 0},                     // apparatus geohash from a status without one
		{2, 0, 1, 0, 1, 0},               // keys out of order (a duplicate)
		{1, 0, 1, 0x0c | 2<<5, 0, 0, 13}, // precision 13
		{200, 0},                         // more statuses than bytes
	} {
		if p, _, err := ReadApparatus(b); err == nil {
			t.Errorf("ReadApparatus(%v) = %+v, want an error", b, p)
		}
	}
	for _, b := range [][]byte{
		{},
		{0x80, 0x10, 0}, // unknown mask bit
		{1, 0, 0},       // timestamp without an offset
		{1, 2, 0, 0},    // offset bit of a field not packed
	} {
		if p, _, err := ReadIncident(b); err == nil {
			t.Errorf("ReadIncident(%v) = %+v, want an error", b, p)
		}
	}
	// Values packed and also in the JSON.
	p, _, err := ReadApparatus(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Restore(decodeApparatus(t, `{"unit_status":{"arrived":{}}}`)); err == nil {
		t.Error("Restore over a status already in the JSON succeeded")
	}
	p, _, _ = ReadApparatus(good)
	if err := p.Restore(decodeApparatus(t, `{"geohash":"x"}`)); err == nil {
		t.Error("Restore over an apparatus geohash already in the JSON succeeded")
	}
	ib, _ := Incident(nil, &app.Incident{Description: &app.Description{EventOpened: app.NewTime(time.Unix(0, 0).UTC())}})
	ip, _, err := ReadIncident(ib)
	if err != nil {
		t.Fatal(err)
	}
	if err := ip.Restore(&app.Incident{}); err == nil {
		t.Error("Restore of timestamps into an incident without a description succeeded")
	}
}

// FuzzApparatus: any apparatus JSON round-trips exactly, and reading
// arbitrary bytes fails cleanly.
func FuzzApparatus(f *testing.F) {
	g := fixture.New(3)
	for i := range 5 {
		for _, u := range g.Incident(i).Apparatus {
			b, _ := codec.Marshal(u)
			f.Add(b)
		}
	}
	f.Add([]byte(`{"geohash":"dq8","unit_status":{"~":{"timestamp":"2016-12-31T19:14:47.5+00:00","latitude":90,"longitude":-0,"geohash":"dq8","order":1,"x":null},"":{}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ReadApparatus(data) // must not panic
		u := new(app.Apparatus)
		if codec.Unmarshal(data, u) != nil {
			return
		}
		if _, err := codec.Marshal(u); err != nil {
			return
		}
		roundTripApparatus(t, u)
	})
}

// FuzzIncident: any incident JSON (without apparatus) round-trips
// exactly, and reading arbitrary bytes fails cleanly.
func FuzzIncident(f *testing.F) {
	g := fixture.New(4)
	for i := range 5 {
		inc := g.Incident(i)
		inc.Apparatus = nil
		b, _ := codec.Marshal(inc)
		f.Add(b)
	}
	f.Add([]byte(`{"address":{"latitude":90,"longitude":1e-7,"geohash":""},"description":{"event_opened":"2016-12-31T19:14:47.5+00:00","loi_search_complete":"2016-12-31T19:14:47Z"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ReadIncident(data) // must not panic
		inc := new(app.Incident)
		if codec.Unmarshal(data, inc) != nil {
			return
		}
		inc.Apparatus = nil
		if _, err := codec.Marshal(inc); err != nil {
			return
		}
		roundTripIncident(t, inc)
	})
}
