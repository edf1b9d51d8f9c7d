// Package analysis computes response metrics from incident timestamps
// (NFPA 1710 turnout, travel, response and their incident-level
// counterparts), flags values that cannot be trusted, and answers
// aggregate questions (distributions, NFPA 1710 compliance, workload) from
// compact in-memory columnar tables that follow the store's change log.
//
// Durations are whole seconds: each timestamp is truncated to the second
// before subtracting. Nothing is copied from the exports' precomputed
// values (extended_data, durations, NFPA); those are only compared with.
package analysis

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"cadbox/app"
)

// Metric is one derived duration.
type Metric uint8

// Unit metrics, one value per apparatus (unit response).
const (
	// Turnout is enroute − dispatched.
	Turnout Metric = iota
	// Travel is arrived − enroute.
	Travel
	// Response is arrived − dispatched.
	Response
	// OnScene is cleared − arrived, or available − arrived when the unit
	// has no cleared time.
	OnScene
	// Commitment is the earliest of cleared and available − dispatched.
	Commitment
	numUnitMetrics int = iota
)

// Incident metrics, one value per incident. The first-unit metrics use
// the earliest timestamp of each status across the incident's units (as
// description.first_unit_* and StatEngine's durations do): the unit that
// went en route first need not be the one that arrived first.
const (
	// AlarmAnswering is event_opened − psap_answer_time.
	AlarmAnswering Metric = iota + Metric(numUnitMetrics)
	// AlarmProcessing is first dispatched − event_opened.
	AlarmProcessing
	// AlarmHandling is first dispatched − psap_answer_time.
	AlarmHandling
	// FirstTurnout is first enroute − first dispatched.
	FirstTurnout
	// FirstTravel is first arrived − first enroute.
	FirstTravel
	// FirstResponse is first arrived − first dispatched.
	FirstResponse
	// TotalResponse is first arrived − psap_answer_time.
	TotalResponse
	// TotalEvent is event_closed − event_opened.
	TotalEvent
	// FirstEngineTravel is the travel of the first-arriving engine.
	FirstEngineTravel
	numMetrics int = iota + numUnitMetrics
)

const numIncidentMetrics = numMetrics - numUnitMetrics

var metricNames = [numMetrics]string{
	"turnout", "travel", "response", "on_scene", "commitment",
	"alarm_answering", "alarm_processing", "alarm_handling", "first_turnout", "first_travel",
	"first_response", "total_response", "total_event", "first_engine_travel",
}

// String returns the metric's name as the API spells it.
func (m Metric) String() string {
	if m.valid() {
		return metricNames[m]
	}
	return "metric(" + strconv.Itoa(int(m)) + ")"
}

// IsUnit reports whether the metric has one value per unit response
// (rather than one per incident).
func (m Metric) IsUnit() bool { return int(m) < numUnitMetrics }

func (m Metric) valid() bool { return int(m) < numMetrics }

// Metrics lists every metric, unit metrics first.
func Metrics() []Metric {
	out := make([]Metric, numMetrics)
	for i := range out {
		out[i] = Metric(i)
	}
	return out
}

// ParseMetric returns the metric with the given name.
func ParseMetric(s string) (Metric, error) {
	for i, n := range metricNames {
		if n == s {
			return Metric(i), nil
		}
	}
	return 0, fmt.Errorf("unknown metric %q", s)
}

// Reason is why a value is flagged. A value may have several flags; its
// first (lowest) reason is the one it is counted under when excluded.
type Reason uint8

// Flag reasons, in the order of precedence.
const (
	// OK means not flagged.
	OK Reason = iota
	// Missing: a timestamp the metric needs is absent.
	Missing
	// Negative: the later timestamp precedes the earlier one.
	Negative
	// OutOfOrder: the duration is not negative but its end precedes the
	// unit's arrival (a unit cleared before it arrived).
	OutOfOrder
	// Implausible: the value is outside the configured bounds.
	Implausible
	// Disagrees: the value differs from one the export provides by more
	// than the tolerance.
	Disagrees
	numReasons int = iota
)

var reasonNames = [numReasons]string{"ok", "missing", "negative", "out_of_order", "implausible", "disagrees"}

// String returns the reason's name as the API spells it.
func (r Reason) String() string {
	if int(r) < numReasons {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// Reasons lists the flag reasons (OK excluded), in precedence order.
func Reasons() []Reason {
	out := make([]Reason, 0, numReasons-1)
	for r := Missing; int(r) < numReasons; r++ {
		out = append(out, r)
	}
	return out
}

// Flag is one data-quality problem of a value.
type Flag struct {
	Reason Reason
	// Detail explains the flag for people, with the timestamps involved.
	Detail string
}

// Provided is a value an export precomputed for the same duration.
type Provided struct {
	// Source is the JSON path of the value, for example
	// apparatus.extended_data.turnout_duration.
	Source  string
	Seconds float64
}

// Value is one computed duration with its data-quality flags.
type Value struct {
	Metric Metric
	// Seconds is the duration; meaningful only when Present.
	Seconds int64
	// Present is false when a timestamp is missing.
	Present bool
	// From and To name the timestamps the value spans (for example
	// "dispatched" and "enroute").
	From, To string
	// Flags lists every problem, the excluding one first; empty when the
	// value can be trusted.
	Flags []Flag
	// Provided are the export's own values for the same duration.
	Provided []Provided
}

// Reason returns the reason the value is excluded from aggregates under
// (OK when it is not flagged).
func (v *Value) Reason() Reason {
	if len(v.Flags) == 0 {
		return OK
	}
	return v.Flags[0].Reason
}

// UnitMetrics are the metrics of one unit response.
type UnitMetrics struct {
	UnitID, UnitType, Station string
	// Shift is apparatus.shift, else the incident's shift.
	Shift string
	// Engine is whether the unit type counts as an engine.
	Engine bool
	// FirstArriving marks the incident's first-arriving unit.
	FirstArriving bool
	// Values are indexed by Metric (unit metrics only).
	Values [numUnitMetrics]Value
}

// Value returns the unit's value of m (a unit metric).
func (u *UnitMetrics) Value(m Metric) *Value { return &u.Values[m] }

// Local is when an incident opened in its department's time zone.
type Local struct {
	Hour    int
	Weekday time.Weekday
	// Year and Month identify the calendar month.
	Year  int
	Month time.Month
}

// IncidentMetrics are every metric of one incident and its units.
type IncidentMetrics struct {
	ID                             app.IncidentID
	Type, Subtype, Category, Shift string
	EventOpened                    time.Time
	Timezone                       string
	// TimezoneNote explains a missing or unknown time zone (UTC used).
	TimezoneNote string
	Local        Local
	// EMS is whether the incident is EMS for NFPA 1710 (else fire/other).
	EMS bool
	// FirstArriving and FirstEngine index Units (-1: none arrived).
	FirstArriving, FirstEngine int
	Units                      []UnitMetrics
	// Values are indexed by Metric − number of unit metrics; use Value.
	Values [numIncidentMetrics]Value
	// end is when the incident stopped being open, in Unix seconds
	// (event_closed, else the latest unit cleared/available); hasEnd is
	// false when unknown.
	end    int64
	hasEnd bool
}

// Value returns the incident's value of m (an incident metric).
func (im *IncidentMetrics) Value(m Metric) *Value { return &im.Values[int(m)-numUnitMetrics] }

// Status keys of apparatus.unit_status.
const (
	stDispatched = "dispatched"
	stEnroute    = "enroute"
	stArrived    = "arrived"
	stCleared    = "cleared"
	stAvailable  = "available"
)

// stamp is one timestamp truncated to the second.
type stamp struct {
	sec  int64
	raw  string
	name string
	ok   bool
}

func stampOf(t *app.Time, name string) stamp {
	if t == nil {
		return stamp{name: name}
	}
	return stamp{sec: t.Time().Unix(), raw: t.String(), name: name, ok: true}
}

func unitStamp(a *app.Apparatus, key string) stamp {
	if s := a.UnitStatus[key]; s != nil {
		return stampOf(s.Timestamp, key)
	}
	return stamp{name: key}
}

// earliest returns the earlier of two stamps that are present.
func earliest(a, b stamp) stamp {
	switch {
	case !a.ok:
		return b
	case !b.ok:
		return a
	case b.sec < a.sec:
		return b
	}
	return a
}

// computer holds what computing metrics needs: the configuration and a
// cache of time zones.
type computer struct {
	cfg   *Config
	zones *zoneCache
}

// Compute returns every metric of inc under cfg (zero fields of cfg take
// their defaults). Engine.Metrics is the same with the engine's
// configuration and time-zone cache.
func Compute(inc *app.Incident, cfg Config) (*IncidentMetrics, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cp := computer{cfg: &c, zones: newZoneCache()}
	return cp.compute(inc), nil
}

func (cp *computer) compute(inc *app.Incident) *IncidentMetrics {
	cfg := cp.cfg
	d := inc.Description
	if d == nil {
		d = &app.Description{}
	}
	fd := inc.FireDepartment
	if fd == nil {
		fd = &app.FireDepartment{}
	}
	im := &IncidentMetrics{
		ID: inc.ID(), Type: app.Val(d.Type), Subtype: app.Val(d.Subtype), Category: app.Val(d.Category),
		Timezone: app.Val(fd.Timezone), FirstArriving: -1, FirstEngine: -1,
	}
	im.Shift = app.Val(d.Shift)
	if im.Shift == "" {
		im.Shift = app.Val(fd.Shift)
	}
	im.EMS = cfg.isEMS(im.Category, im.Type)
	opened := stampOf(d.EventOpened, "event_opened")
	if opened.ok {
		im.EventOpened = d.EventOpened.Time()
	}
	loc, note := cp.zones.get(im.Timezone)
	im.TimezoneNote = note
	lt := time.Unix(opened.sec, 0).In(loc)
	im.Local = Local{Hour: lt.Hour(), Weekday: lt.Weekday(), Year: lt.Year(), Month: lt.Month()}

	// Units.
	var firstDisp, firstEnr, firstArr stamp
	var end, engEnr, engArr stamp
	var engExt *app.UnitExtendedData
	im.Units = make([]UnitMetrics, 0, len(inc.Apparatus))
	for _, a := range inc.Apparatus {
		if a == nil {
			continue
		}
		um := UnitMetrics{UnitID: app.Val(a.UnitID), UnitType: app.Val(a.UnitType), Station: app.Val(a.Station), Shift: app.Val(a.Shift)}
		if um.Shift == "" {
			um.Shift = im.Shift
		}
		um.Engine = cfg.isEngine(um.UnitType)
		disp, enr, arr := unitStamp(a, stDispatched), unitStamp(a, stEnroute), unitStamp(a, stArrived)
		clr, avl := unitStamp(a, stCleared), unitStamp(a, stAvailable)
		ext := a.ExtendedData
		if ext == nil {
			ext = &app.UnitExtendedData{}
		}
		um.Values[Turnout] = cp.between(Turnout, disp, enr, stamp{}, prov("apparatus.extended_data.turnout_duration", ext.TurnoutDuration))
		um.Values[Travel] = cp.between(Travel, enr, arr, stamp{}, prov("apparatus.extended_data.travel_duration", ext.TravelDuration))
		um.Values[Response] = cp.between(Response, disp, arr, stamp{}, prov("apparatus.extended_data.response_duration", ext.ResponseDuration))
		leave := clr
		if !leave.ok {
			leave = avl
		}
		if !clr.ok && !avl.ok {
			leave = stamp{name: "cleared or available"}
		}
		um.Values[OnScene] = cp.between(OnScene, arr, leave, stamp{})
		commitEnd := earliest(clr, avl)
		if !commitEnd.ok {
			commitEnd = stamp{name: "cleared or available"}
		}
		um.Values[Commitment] = cp.between(Commitment, disp, commitEnd, arr)
		firstDisp, firstEnr = earliest(firstDisp, disp), earliest(firstEnr, enr)
		if arr.ok && (!firstArr.ok || arr.sec < firstArr.sec) {
			firstArr = arr
			im.FirstArriving = len(im.Units)
		}
		if um.Engine && arr.ok && (!engArr.ok || arr.sec < engArr.sec) {
			engEnr, engArr, engExt = enr, arr, ext
			im.FirstEngine = len(im.Units)
		}
		for _, s := range []stamp{clr, avl} {
			if s.ok && (!end.ok || s.sec > end.sec) {
				end = s
			}
		}
		im.Units = append(im.Units, um)
	}
	if im.FirstArriving >= 0 {
		im.Units[im.FirstArriving].FirstArriving = true
	}
	// Fall back to the description's first_unit_* when no unit has the
	// status.
	if !firstDisp.ok {
		firstDisp = stampOf(d.FirstUnitDispatched, "first_unit_dispatched")
	} else {
		firstDisp.name = "first dispatched"
	}
	if !firstEnr.ok {
		firstEnr = stampOf(d.FirstUnitEnroute, "first_unit_enroute")
	} else {
		firstEnr.name = "first enroute"
	}
	if !firstArr.ok {
		firstArr = stampOf(d.FirstUnitArrived, "first_unit_arrived")
	} else {
		firstArr.name = "first arrived"
	}
	if !firstDisp.ok {
		firstDisp.name = "first dispatched"
	}
	if !firstEnr.ok {
		firstEnr.name = "first enroute"
	}
	if !firstArr.ok {
		firstArr.name = "first arrived"
	}
	psap := stampOf(d.PSAPAnswerTime, "psap_answer_time")
	closed := stampOf(d.EventClosed, "event_closed")
	de := d.ExtendedData
	if de == nil {
		de = &app.DescExtendedData{}
	}
	du := inc.Durations
	if du == nil {
		du = &app.Durations{}
	}
	nf := inc.NFPA
	if nf == nil {
		nf = &app.NFPA{}
	}
	set := func(m Metric, v Value) { im.Values[int(m)-numUnitMetrics] = v }
	set(AlarmAnswering, cp.between(AlarmAnswering, psap, opened, stamp{},
		prov("description.extended_data.psap_answer_time_to_event_creation", de.PSAPAnswerTimeToEventCreation),
		provDur("durations.alarm_answer.seconds", du.AlarmAnswer),
		prov("NFPA.alarm_answering_duration_seconds", nf.AlarmAnsweringDurationSeconds)))
	set(AlarmProcessing, cp.between(AlarmProcessing, opened, firstDisp, stamp{},
		prov("description.extended_data.dispatch_duration", de.DispatchDuration),
		provDur("durations.alarm_processing.seconds", du.AlarmProcessing),
		prov("NFPA.alarm_processing_duration_seconds", nf.AlarmProcessingDurationSeconds)))
	set(AlarmHandling, cp.between(AlarmHandling, psap, firstDisp, stamp{},
		prov("description.extended_data.psap_answer_time_to_first_dispatch", de.PSAPAnswerTimeToFirstDispatch),
		provDur("durations.alarm_handling.seconds", du.AlarmHandling)))
	set(FirstTurnout, cp.between(FirstTurnout, firstDisp, firstEnr, stamp{}, provDur("durations.turnout.seconds", du.Turnout)))
	set(FirstTravel, cp.between(FirstTravel, firstEnr, firstArr, stamp{}, provDur("durations.travel.seconds", du.Travel)))
	set(FirstResponse, cp.between(FirstResponse, firstDisp, firstArr, stamp{},
		prov("description.extended_data.response_time", de.ResponseTime),
		prov("description.extended_data.response_duration", de.ResponseDuration)))
	set(TotalResponse, cp.between(TotalResponse, psap, firstArr, stamp{},
		prov("description.extended_data.psap_answer_time_to_first_arrival", de.PSAPAnswerTimeToFirstArrival),
		provDur("durations.total_response.seconds", du.TotalResponse)))
	set(TotalEvent, cp.between(TotalEvent, opened, closed, stamp{},
		prov("description.extended_data.event_duration", de.EventDuration),
		provDur("durations.total_event.seconds", du.TotalEvent)))
	if im.FirstEngine >= 0 {
		set(FirstEngineTravel, cp.between(FirstEngineTravel, engEnr, engArr, stamp{},
			prov("apparatus.extended_data.travel_duration", engExt.TravelDuration),
			prov("NFPA.first_engine_travel_duration_seconds", nf.FirstEngineTravelDurationSeconds)))
	} else {
		set(FirstEngineTravel, Value{Metric: FirstEngineTravel, From: stEnroute, To: stArrived,
			Flags: []Flag{{Missing, "no engine (unit_type " + joinOr(cfg.EngineUnitTypes) + ") arrived"}}})
	}

	if closed.ok && opened.ok && closed.sec >= opened.sec {
		im.end, im.hasEnd = closed.sec, true
	} else if end.ok && opened.ok && end.sec >= opened.sec {
		im.end, im.hasEnd = end.sec, true
	}
	return im
}

func joinOr(vs []string) string {
	s := ""
	for i, v := range vs {
		if i > 0 {
			s += " or "
		}
		s += strconv.Quote(v)
	}
	return s
}

func prov(source string, v *float64) *Provided {
	if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
		return nil
	}
	return &Provided{Source: source, Seconds: *v}
}

func provDur(source string, d *app.Duration) *Provided {
	if d == nil {
		return nil
	}
	return prov(source, d.Seconds)
}

// between computes to − from for metric m and flags it. arrived, when
// present, is the arrival the end must not precede (commitment).
func (cp *computer) between(m Metric, from, to, arrived stamp, provided ...*Provided) Value {
	v := Value{Metric: m, From: from.name, To: to.name}
	for _, p := range provided {
		if p != nil {
			v.Provided = append(v.Provided, *p)
		}
	}
	switch {
	case !from.ok && !to.ok:
		v.Flags = []Flag{{Missing, "no " + from.name + " and no " + to.name + " timestamp"}}
		return v
	case !from.ok:
		v.Flags = []Flag{{Missing, "no " + from.name + " timestamp"}}
		return v
	case !to.ok:
		v.Flags = []Flag{{Missing, "no " + to.name + " timestamp"}}
		return v
	}
	v.Seconds, v.Present = to.sec-from.sec, true
	if v.Seconds < 0 {
		v.Flags = append(v.Flags, Flag{Negative, fmt.Sprintf("%s (%s) is before %s (%s)", to.name, to.raw, from.name, from.raw)})
	} else if arrived.ok && to.sec < arrived.sec {
		v.Flags = append(v.Flags, Flag{OutOfOrder, fmt.Sprintf("%s (%s) is before %s (%s)", to.name, to.raw, arrived.name, arrived.raw)})
	}
	cp.recheck(&v)
	return v
}

// recheck adds the implausible and disagreement flags of a present value.
func (cp *computer) recheck(v *Value) {
	if !v.Present {
		return
	}
	b := cp.cfg.Bounds[v.Metric]
	if v.Seconds >= 0 && (v.Seconds < b.Min || v.Seconds > b.Max) {
		v.Flags = append(v.Flags, Flag{Implausible, fmt.Sprintf("%d s is outside the plausible range %d–%d s", v.Seconds, b.Min, b.Max)})
	}
	for _, p := range v.Provided {
		if math.Abs(float64(v.Seconds)-p.Seconds) > cp.cfg.Tolerance {
			v.Flags = append(v.Flags, Flag{Disagrees, fmt.Sprintf("computed %d s, %s says %s s (tolerance %s s)", v.Seconds, p.Source,
				strconv.FormatFloat(p.Seconds, 'f', -1, 64), strconv.FormatFloat(cp.cfg.Tolerance, 'f', -1, 64))})
			break
		}
	}
}
