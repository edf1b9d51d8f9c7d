package api

import (
	"bytes"
	"encoding/csv"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cadbox/app"
	"cadbox/app/analysis"

	"github.com/labstack/echo/v4"
)

// The analysis routes: per-incident metrics and aggregates, each table
// as JSON or CSV.

const statsDoc = `

Durations are whole seconds computed from the timestamps (each truncated to the second), never copied from
extended_data. Unit metrics (one value per unit response): turnout = enroute − dispatched, travel = arrived −
enroute, response = arrived − dispatched, on_scene = cleared − arrived (available when there is no cleared),
commitment = earliest of cleared/available − dispatched. Incident metrics: alarm_answering = event_opened −
psap_answer_time, alarm_processing = first dispatched − event_opened, alarm_handling = first dispatched −
psap_answer_time, first_turnout / first_travel / first_response between the earliest dispatched, enroute and
arrived of any unit (as description.first_unit_* and StatEngine do), total_response = first arrived −
psap_answer_time, total_event = event_closed − event_opened, first_engine_travel = travel of the
first-arriving engine.

Data quality: a value is flagged missing (a timestamp is absent), negative, out_of_order (it ends before the
unit arrived, e.g. cleared before arrived), implausible (outside the configured bounds) or disagrees (differs
from the export's extended_data / durations / NFPA value by more than the tolerance, 2 s by default). Flagged
values are left out of aggregates and counted under excluded, by their first reason; include_flagged=true
puts them in (missing values cannot be).

Filters: department, type, subtype and from/to (event_opened, from ≤ t < to) select incidents; unit_id,
station and shift select unit responses (shift: the unit's, else the incident's). A metric of the incident
belongs to its first-arriving unit (first_engine_travel: the first-arriving engine) for the unit filters and
the unit, unit_type and station groups; its shift group is the incident's shift.

Grouping (group_by, comma-separated): department, unit, unit_type, station, type, subtype, shift, hour,
weekday, month. hour (00–23), weekday (Monday first) and month (YYYY-MM) are of event_opened in the
department's own time zone (fire_department.timezone; UTC when missing), DST included.

Percentiles are exact: linear interpolation between the closest ranks, numpy's default ("linear") method —
with n sorted values x and h = (n−1)·p/100, pP = x[⌊h⌋] + (h−⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]). p50 and p90 are always
given; percentiles=75,95 adds more.

Every table is also CSV (with a header row): send Accept: text/csv or format=csv.`

// statsFilterParams are the filters every aggregate takes.
type statsFilterParams struct {
	Department string `query:"department" description:"Only this fd_id." example:"76000"`
	From       string `query:"from" format:"date-time" description:"event_opened at or after (RFC 3339)." example:"2017-01-01T00:00:00-05:00"`
	To         string `query:"to" format:"date-time" description:"event_opened before (RFC 3339)." example:"2018-01-01T00:00:00-05:00"`
	Type       string `query:"type" description:"description.type, exactly." example:"EMS-1STRESP"`
	Subtype    string `query:"subtype" description:"description.subtype, exactly."`
	UnitID     string `query:"unit_id" description:"Only this unit's responses (incident metrics: incidents whose first-arriving unit it is)." example:"E22"`
	Station    string `query:"station" description:"Only this station's unit responses (incident metrics: by the first-arriving unit)." example:"FSTA22"`
	Shift      string `query:"shift" description:"Only this shift (apparatus.shift, else description.shift, else fire_department.shift)." example:"B"`
	Format     string `query:"format" enum:"json,csv" description:"json (default) or csv; Accept: text/csv also selects CSV."`
}

type statsGroupParams struct {
	GroupBy string `query:"group_by" description:"Comma-separated dimensions: department, unit, unit_type, station, type, subtype, shift, hour, weekday, month." example:"unit"`
}

type durationsParams struct {
	statsFilterParams
	statsGroupParams
	Metrics        string `query:"metrics" description:"Comma-separated metrics (default turnout,travel,response): turnout, travel, response, on_scene, commitment, alarm_answering, alarm_processing, alarm_handling, first_turnout, first_travel, first_response, total_response, total_event, first_engine_travel." example:"turnout"`
	Percentiles    string `query:"percentiles" description:"Extra percentiles (0–100, comma-separated) besides p50 and p90." example:"75,95"`
	IncludeFlagged bool   `query:"include_flagged" description:"Include flagged values (all but missing ones) instead of excluding them."`
}

type qualityParams struct {
	statsFilterParams
	statsGroupParams
	Metrics string `query:"metrics" description:"Comma-separated metrics (default: all)." example:"on_scene,commitment"`
}

type nfpaParams struct {
	statsFilterParams
	statsGroupParams
	Percentiles       string  `query:"percentiles" description:"Extra percentiles (0–100, comma-separated) besides p50 and p90." example:"95"`
	IncludeFlagged    bool    `query:"include_flagged" description:"Include flagged values (all but missing ones) instead of excluding them."`
	TurnoutEMS        int64   `query:"turnout_ems_seconds" minimum:"0" description:"Turnout limit for EMS incidents (default: configured, 60)."`
	TurnoutFire       int64   `query:"turnout_fire_seconds" minimum:"0" description:"Turnout limit for fire and other incidents (default: configured, 80)."`
	FirstEngineTravel int64   `query:"first_engine_travel_seconds" minimum:"0" description:"Travel limit of the first-arriving engine (default: configured, 240)."`
	AlarmProcessing   int64   `query:"alarm_processing_seconds" minimum:"0" description:"Alarm processing limit (default: configured, 64)."`
	Goal              float64 `query:"goal" minimum:"0" maximum:"1" description:"Share that must comply (default: configured, 0.9)."`
}

type workloadParams struct {
	statsFilterParams
	statsGroupParams
}

type utilizationParams struct {
	statsFilterParams
	statsGroupParams
	IncludeFlagged bool `query:"include_flagged" description:"Include flagged commitments (all but missing ones)."`
}

type concurrencyParams struct {
	statsFilterParams
	statsGroupParams
	Percentiles string `query:"percentiles" description:"Extra percentiles (0–100, comma-separated) besides p50 and p90." example:"99"`
}

type heatmapParams struct {
	statsFilterParams
	Count string `query:"count" enum:"incidents,unit_responses" description:"What the cells count (default incidents)."`
}

type incidentMetricsParams struct {
	incidentParams
	Format string `query:"format" enum:"json,csv" description:"json (default) or csv; Accept: text/csv also selects CSV."`
}

// Responses.

// Excluded counts values left out of an aggregate (or flagged), by
// reason.
type Excluded struct {
	Missing     int64 `json:"missing" description:"A timestamp the metric needs is absent."`
	Negative    int64 `json:"negative" description:"The later timestamp precedes the earlier one."`
	OutOfOrder  int64 `json:"out_of_order" description:"The interval ends before the unit arrived."`
	Implausible int64 `json:"implausible" description:"Outside the configured plausible range."`
	Disagrees   int64 `json:"disagrees" description:"Differs from the export's own value by more than the tolerance."`
}

func excludedOf(e analysis.Excluded) Excluded {
	return Excluded{Missing: e[analysis.Missing], Negative: e[analysis.Negative], OutOfOrder: e[analysis.OutOfOrder],
		Implausible: e[analysis.Implausible], Disagrees: e[analysis.Disagrees]}
}

var excludedColumns = []string{"missing", "negative", "out_of_order", "implausible", "disagrees"}

func (e Excluded) cells() []string {
	return []string{itoa(e.Missing), itoa(e.Negative), itoa(e.OutOfOrder), itoa(e.Implausible), itoa(e.Disagrees)}
}

// DurationRow is the distribution of one metric in one group.
type DurationRow struct {
	Group       map[string]string   `json:"group" description:"The row's value of each group_by dimension."`
	Metric      string              `json:"metric" example:"turnout"`
	Count       int64               `json:"count" description:"Values in the aggregate."`
	Mean        *float64            `json:"mean" description:"Seconds; null when count is 0."`
	Min         *int64              `json:"min" description:"Seconds; null when count is 0."`
	Max         *int64              `json:"max" description:"Seconds; null when count is 0."`
	Percentiles map[string]*float64 `json:"percentiles" description:"p50, p90 and the requested ones (seconds), by numpy's linear method; null when count is 0."`
	Excluded    Excluded            `json:"excluded" description:"Values left out of this row, by reason."`
}

// DurationsResponse is the distribution of durations per group.
type DurationsResponse struct {
	GroupBy        []string            `json:"group_by"`
	Metrics        []string            `json:"metrics"`
	Percentiles    []float64           `json:"percentiles" description:"The percentiles reported, ascending."`
	IncludeFlagged bool                `json:"include_flagged"`
	Rows           []DurationRow       `json:"rows"`
	Excluded       map[string]Excluded `json:"excluded" description:"Per metric, the values left out of all rows, by reason."`
}

// QualityRow counts one metric's values in one group by data-quality
// flag.
type QualityRow struct {
	Group        map[string]string `json:"group"`
	Metric       string            `json:"metric"`
	Values       int64             `json:"values" description:"All values, flagged or not."`
	OK           int64             `json:"ok" description:"Values without a flag."`
	Flagged      Excluded          `json:"flagged" description:"Flagged values by their first reason."`
	FlaggedShare *float64          `json:"flagged_share" description:"Flagged / values; null when there are none."`
}

// QualityResponse is the data-quality report.
type QualityResponse struct {
	GroupBy []string     `json:"group_by"`
	Metrics []string     `json:"metrics"`
	Rows    []QualityRow `json:"rows"`
}

// ThresholdsJSON are the NFPA 1710 limits applied.
type ThresholdsJSON struct {
	TurnoutEMS        int64   `json:"turnout_ems_seconds" example:"60"`
	TurnoutFire       int64   `json:"turnout_fire_seconds" example:"80"`
	FirstEngineTravel int64   `json:"first_engine_travel_seconds" example:"240"`
	AlarmProcessing   int64   `json:"alarm_processing_seconds" example:"64"`
	Goal              float64 `json:"goal" example:"0.9"`
}

// ComplianceRow is one NFPA 1710 measure in one group.
type ComplianceRow struct {
	Group       map[string]string   `json:"group"`
	Measure     string              `json:"measure" enum:"turnout_ems,turnout_fire,first_engine_travel,alarm_processing"`
	Threshold   int64               `json:"threshold_seconds"`
	Count       int64               `json:"count"`
	Compliant   int64               `json:"compliant" description:"Values ≤ the threshold."`
	Share       *float64            `json:"share" description:"compliant / count; null when count is 0."`
	MeetsGoal   bool                `json:"meets_goal" description:"share ≥ goal."`
	Percentiles map[string]*float64 `json:"percentiles" description:"Seconds, by numpy's linear method."`
	Excluded    Excluded            `json:"excluded"`
}

// ComplianceResponse is NFPA 1710 compliance per group.
type ComplianceResponse struct {
	GroupBy        []string        `json:"group_by"`
	Thresholds     ThresholdsJSON  `json:"thresholds"`
	Percentiles    []float64       `json:"percentiles"`
	IncludeFlagged bool            `json:"include_flagged"`
	Rows           []ComplianceRow `json:"rows"`
}

// CountRow is the workload of one group.
type CountRow struct {
	Group         map[string]string `json:"group"`
	Incidents     int64             `json:"incidents" description:"Distinct incidents (with a unit dimension: incidents a unit of the group responded to)."`
	UnitResponses int64             `json:"unit_responses"`
	Share         *float64          `json:"share" description:"incidents / all matching incidents."`
}

// CountsResponse is the workload per group.
type CountsResponse struct {
	GroupBy       []string   `json:"group_by"`
	Incidents     int64      `json:"incidents" description:"Matching incidents, each counted once."`
	UnitResponses int64      `json:"unit_responses"`
	Rows          []CountRow `json:"rows"`
	Excluded      Excluded   `json:"excluded" description:"Counts leave nothing out (always zero); present for uniformity."`
}

// HeatmapRow is one weekday of the heatmap.
type HeatmapRow struct {
	Weekday string  `json:"weekday" example:"Monday"`
	Hours   []int64 `json:"hours" description:"24 counts, local hour 00 to 23."`
	Total   int64   `json:"total"`
}

// HeatmapResponse is the hour-of-day × weekday matrix.
type HeatmapResponse struct {
	Count    string       `json:"count" enum:"incidents,unit_responses"`
	Total    int64        `json:"total"`
	Rows     []HeatmapRow `json:"rows" description:"Monday to Sunday."`
	Excluded Excluded     `json:"excluded" description:"Counts leave nothing out (always zero); present for uniformity."`
}

// UtilizationRow is the unit-hour utilization of one group.
type UtilizationRow struct {
	Group            map[string]string `json:"group"`
	Units            int64             `json:"units" description:"Distinct units that responded."`
	UnitResponses    int64             `json:"unit_responses"`
	CommittedSeconds int64             `json:"committed_seconds" description:"Sum of the commitments (flagged ones left out unless include_flagged)."`
	PeriodSeconds    int64             `json:"period_seconds" description:"Seconds in the period; grouped by hour, weekday or month, those falling in the bucket."`
	Utilization      *float64          `json:"utilization" description:"committed_seconds / (units × period_seconds)."`
	Excluded         Excluded          `json:"excluded" description:"Commitments left out, by reason."`
}

// UtilizationResponse is unit-hour utilization per group.
type UtilizationResponse struct {
	GroupBy        []string         `json:"group_by"`
	From           *time.Time       `json:"from,omitempty" description:"Start of the period (from, else the first matching event_opened)."`
	To             *time.Time       `json:"to,omitempty" description:"End of the period (to, else the last matching event_opened)."`
	IncludeFlagged bool             `json:"include_flagged"`
	Rows           []UtilizationRow `json:"rows"`
}

// ConcurrencyRow is the distribution of concurrent incidents in one
// group.
type ConcurrencyRow struct {
	Group          map[string]string   `json:"group"`
	Incidents      int64               `json:"incidents"`
	Mean           *float64            `json:"mean" description:"Mean number of other incidents open at arrival."`
	Max            *int64              `json:"max"`
	Percentiles    map[string]*float64 `json:"percentiles"`
	WithConcurrent int64               `json:"with_concurrent" description:"Incidents that arrived while at least one other was open."`
	Share          *float64            `json:"share" description:"with_concurrent / incidents."`
	Excluded       Excluded            `json:"excluded" description:"Nothing is left out (always zero); see unknown_end."`
}

// ConcurrencyResponse is the concurrency distribution per group.
type ConcurrencyResponse struct {
	GroupBy     []string         `json:"group_by"`
	Percentiles []float64        `json:"percentiles"`
	UnknownEnd  int64            `json:"unknown_end" description:"Matching incidents with no known end (no event_closed, no unit cleared/available): never counted as open for later calls."`
	Rows        []ConcurrencyRow `json:"rows"`
}

// MetricFlag is one data-quality flag of a value.
type MetricFlag struct {
	Reason string `json:"reason" enum:"missing,negative,out_of_order,implausible,disagrees"`
	Detail string `json:"detail" example:"cleared (2017-05-15T13:29:02-04:00) is before arrived (2017-05-15T13:32:20-04:00)"`
}

// ProvidedValue is a value the export itself carries for a duration.
type ProvidedValue struct {
	Source  string  `json:"source" example:"apparatus.extended_data.turnout_duration"`
	Seconds float64 `json:"seconds" example:"81"`
}

// MetricValue is one computed duration.
type MetricValue struct {
	Seconds  *int64          `json:"seconds" description:"null when a timestamp is missing." example:"81"`
	From     string          `json:"from" example:"dispatched"`
	To       string          `json:"to" example:"enroute"`
	Included bool            `json:"included" description:"Whether aggregates use the value by default (it has no flag)."`
	Flags    []MetricFlag    `json:"flags"`
	Provided []ProvidedValue `json:"provided,omitempty" description:"The export's own values, compared with."`
}

// UnitMetricsJSON are one unit response's metrics.
type UnitMetricsJSON struct {
	UnitID        string                 `json:"unit_id" example:"E22"`
	UnitType      string                 `json:"unit_type,omitempty" example:"Engine"`
	Station       string                 `json:"station,omitempty" example:"FSTA22"`
	Shift         string                 `json:"shift,omitempty" example:"B"`
	Engine        bool                   `json:"engine"`
	FirstArriving bool                   `json:"first_arriving"`
	Metrics       map[string]MetricValue `json:"metrics" description:"turnout, travel, response, on_scene, commitment."`
}

// NFPACheck is one NFPA 1710 test of the incident.
type NFPACheck struct {
	Measure   string `json:"measure" enum:"turnout_ems,turnout_fire,first_engine_travel,alarm_processing"`
	UnitID    string `json:"unit_id,omitempty"`
	Seconds   *int64 `json:"seconds"`
	Threshold int64  `json:"threshold_seconds"`
	Compliant *bool  `json:"compliant" description:"null when the value is flagged (it would be left out of the compliance share)."`
}

// LocalTime is when the incident opened in its department's time zone.
type LocalTime struct {
	Hour    int    `json:"hour" example:"13"`
	Weekday string `json:"weekday" example:"Monday"`
	Month   string `json:"month" example:"2017-05"`
}

// IncidentMetricsResponse is every metric of one incident.
type IncidentMetricsResponse struct {
	FDID                string                 `json:"fd_id" example:"76000"`
	IncidentNumber      string                 `json:"incident_number" example:"F01705150050"`
	EventOpened         time.Time              `json:"event_opened"`
	Timezone            string                 `json:"timezone" example:"US/Eastern"`
	TimezoneNote        string                 `json:"timezone_note,omitempty"`
	Local               LocalTime              `json:"local"`
	NFPAType            string                 `json:"nfpa_type" enum:"ems,fire" description:"EMS or fire/other, as classified for NFPA 1710 turnout."`
	Units               int                    `json:"units"`
	FirstArrivingUnit   string                 `json:"first_arriving_unit,omitempty"`
	FirstArrivingEngine string                 `json:"first_arriving_engine,omitempty"`
	Flagged             int                    `json:"flagged" description:"How many values carry a flag."`
	Metrics             map[string]MetricValue `json:"metrics" description:"The incident metrics."`
	Apparatus           []UnitMetricsJSON      `json:"apparatus"`
	NFPA1710            []NFPACheck            `json:"nfpa1710"`
}

func (s *Server) statsRoutes() []route {
	problems := func(statuses ...int) []response {
		out := make([]response, len(statuses))
		for i, st := range statuses {
			out[i] = response{status: st, contentType: problemContentType, schema: new(Problem), doc: http.StatusText(st)}
		}
		return out
	}
	ok := func(schema any) []response {
		return append([]response{
			{status: 200, schema: schema},
			{status: 200, contentType: "text/csv", schema: new(string), doc: "The same table as CSV with a header row (Accept: text/csv or format=csv)."},
		}, problems(401, 403, 422, 429, 503)...)
	}
	return []route{
		{
			method: http.MethodGet, path: incidentPath + "/metrics", handler: s.handleIncidentMetrics, access: accessReader,
			id: "getIncidentMetrics", tag: "Analysis", summary: "Every response metric of one incident, with data-quality flags",
			doc:    "Computes the metrics of the stored incident: per unit and for the incident, each with the timestamps it spans, its flags and the export's own values it was compared with, plus the NFPA 1710 checks." + statsDoc,
			params: new(incidentMetricsParams),
			responses: append([]response{
				{status: 200, schema: new(IncidentMetricsResponse)},
				{status: 200, contentType: "text/csv", schema: new(string), doc: "One row per value (scope, unit_id, metric, seconds, flags, …)."},
			}, problems(401, 403, 404, 422, 429)...),
		},
		{
			method: http.MethodGet, path: "/api/v1/stats/durations", handler: s.handleDurations, access: accessReader,
			id: "statsDurations", tag: "Analysis", summary: "Distribution of durations: count, mean, min, max, percentiles",
			doc:    "Example: p90 turnout by unit over 2017: `?metrics=turnout&group_by=unit&from=2017-01-01T00:00:00-05:00&to=2018-01-01T00:00:00-05:00`." + statsDoc,
			params: new(durationsParams), responses: ok(new(DurationsResponse)),
		},
		{
			method: http.MethodGet, path: "/api/v1/stats/nfpa1710", handler: s.handleNFPA1710, access: accessReader,
			id: "statsNFPA1710", tag: "Analysis", summary: "NFPA 1710 compliance: turnout, first-arriving engine travel, alarm processing",
			doc: "For each group: the share of unit turnouts within 60 s (EMS incidents) and 80 s (fire and other), of first-arriving engine travels within 240 s and of alarm processing times within 64 s, and whether it reaches the 90 % goal. " +
				"Limits default to the server's configuration and can be overridden per request. EMS vs fire/other is configured (by description.category, else a type prefix such as EMS)." + statsDoc,
			params: new(nfpaParams), responses: ok(new(ComplianceResponse)),
		},
		{
			method: http.MethodGet, path: "/api/v1/stats/quality", handler: s.handleQuality, access: accessReader,
			id: "statsQuality", tag: "Analysis", summary: "Data quality: values per metric and group by flag",
			doc:    "Example: which units clear before they arrive: `?metrics=on_scene&group_by=unit`." + statsDoc,
			params: new(qualityParams), responses: ok(new(QualityResponse)),
		},
		{
			method: http.MethodGet, path: "/api/v1/stats/workload/types", handler: s.handleWorkloadTypes, access: accessReader,
			id: "statsWorkloadTypes", tag: "Analysis", summary: "Workload: incidents and unit responses by type and subtype (or any grouping)",
			doc:    "group_by defaults to type,subtype. Incidents match unit_id/station when any of their units does; grouped by a unit dimension, an incident counts in the group of each unit that responded." + statsDoc,
			params: new(workloadParams), responses: ok(new(CountsResponse)),
		},
		{
			method: http.MethodGet, path: "/api/v1/stats/workload/heatmap", handler: s.handleHeatmap, access: accessReader,
			id: "statsWorkloadHeatmap", tag: "Analysis", summary: "Workload: hour-of-day × weekday matrix (department's local time)",
			doc:    "Rows Monday to Sunday, 24 columns for the local hours of event_opened. For other combinations use /stats/workload/types with group_by=weekday,hour." + statsDoc,
			params: new(heatmapParams), responses: ok(new(HeatmapResponse)),
		},
		{
			method: http.MethodGet, path: "/api/v1/stats/workload/units", handler: s.handleUtilization, access: accessReader,
			id: "statsWorkloadUnits", tag: "Analysis", summary: "Workload: unit responses and unit-hour utilization",
			doc: "Utilization = committed seconds / (units × seconds in the period). The period is [from, to), or the span of the matching event_opened times. group_by defaults to unit; grouped by hour, weekday or month, the period is the part of it in each bucket (local time, DST included) and a commitment counts whole in the bucket of its incident's event_opened. " +
				"Grouping by a time bucket needs the matching incidents to share one time zone (filter by department)." + statsDoc,
			params: new(utilizationParams), responses: ok(new(UtilizationResponse)),
		},
		{
			method: http.MethodGet, path: "/api/v1/stats/workload/concurrency", handler: s.handleConcurrency, access: accessReader,
			id: "statsWorkloadConcurrency", tag: "Analysis", summary: "Workload: how many incidents were open when each call arrived",
			doc: "For each matching incident: the number of other incidents of its department opened earlier and not yet ended (event_closed, else the last unit cleared/available) at its event_opened. The open incidents are counted whatever the filters. " +
				"Grouped by a unit dimension, an incident counts in the group of each unit that responded." + statsDoc,
			params: new(concurrencyParams), responses: ok(new(ConcurrencyResponse)),
		},
	}
}

// Parameter parsing.

func (s *Server) engine() (*analysis.Engine, error) {
	if s.analysis == nil {
		return nil, app.Errorf(app.EUNAVAILABLE, "Analysis is not enabled on this server.")
	}
	return s.analysis, nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func paramError(name, msg string) error {
	return app.Invalid("A request parameter is not valid.", app.FieldError{Pointer: "/" + name, Message: msg})
}

// filter returns the filter of the parameters within the departments the
// request may see.
func (p *statsFilterParams) filter(c echo.Context) (analysis.Filter, error) {
	f := analysis.Filter{Departments: scope(c), Department: p.Department, Type: p.Type, Subtype: p.Subtype, UnitID: p.UnitID, Station: p.Station, Shift: p.Shift}
	var err error
	if f.From, err = parseTimeParam("from", p.From); err != nil {
		return f, err
	}
	if f.To, err = parseTimeParam("to", p.To); err != nil {
		return f, err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, paramError("to", "must be after from")
	}
	return f, nil
}

func parseGroupBy(v, def string) ([]analysis.Dimension, error) {
	if v == "" {
		v = def
	}
	var out []analysis.Dimension
	for _, name := range splitList(v) {
		d, err := analysis.ParseDimension(name)
		if err != nil {
			return nil, paramError("group_by", "unknown dimension "+strconv.Quote(name)+"; use a comma-separated list of "+strings.Join(analysis.DimensionNames(), ", "))
		}
		for _, have := range out {
			if have == d {
				return nil, paramError("group_by", name+" is listed twice")
			}
		}
		out = append(out, d)
	}
	if len(out) > 4 {
		return nil, paramError("group_by", "at most 4 dimensions")
	}
	return out, nil
}

func parseMetrics(v string, def []analysis.Metric) ([]analysis.Metric, error) {
	if strings.TrimSpace(v) == "" {
		return def, nil
	}
	var out []analysis.Metric
	for _, name := range splitList(v) {
		m, err := analysis.ParseMetric(name)
		if err != nil {
			var names []string
			for _, m := range analysis.Metrics() {
				names = append(names, m.String())
			}
			return nil, paramError("metrics", "unknown metric "+strconv.Quote(name)+"; use "+strings.Join(names, ", "))
		}
		for _, have := range out {
			if have == m {
				return nil, paramError("metrics", name+" is listed twice")
			}
		}
		out = append(out, m)
	}
	return out, nil
}

func parsePercentiles(v string) ([]float64, error) {
	var out []float64
	for _, s := range splitList(v) {
		p, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(p) || p < 0 || p > 100 {
			return nil, paramError("percentiles", "must be numbers between 0 and 100, such as 75,95")
		}
		out = append(out, p)
	}
	if len(out) > 20 {
		return nil, paramError("percentiles", "at most 20 percentiles")
	}
	return out, nil
}

// query builds the analysis query of the common parameters.
func query(c echo.Context, f *statsFilterParams, groupBy, defGroup string) (analysis.Query, error) {
	var q analysis.Query
	var err error
	if q.Filter, err = f.filter(c); err != nil {
		return q, err
	}
	if q.GroupBy, err = parseGroupBy(groupBy, defGroup); err != nil {
		return q, err
	}
	return q, nil
}

// analysisError turns an analysis error into a client error where it is
// the query's fault.
func analysisError(err error) error {
	if errors.Is(err, analysis.ErrInvalidQuery) {
		return &app.Error{Code: app.EINVALID, Message: "The query cannot be answered as asked.",
			Fields: []app.FieldError{{Pointer: "/", Message: err.Error()}}, Err: err}
	}
	return err
}

// Output.

// wantCSV reports whether the client asked for CSV.
func wantCSV(c echo.Context, format string) (bool, error) {
	switch format {
	case "csv":
		return true, nil
	case "json":
		return false, nil
	case "":
		// CSV when Accept names text/csv before (or without) JSON.
		accept := c.Request().Header.Get("Accept")
		i, j := strings.Index(accept, "text/csv"), strings.Index(accept, "application/json")
		return i >= 0 && (j < 0 || i < j), nil
	}
	return false, paramError("format", "must be json or csv")
}

// csvTable is a response as rows of text.
type csvTable struct {
	header []string
	rows   [][]string
}

// respond writes v as JSON, or tab as CSV when the client asked for it.
func respond(c echo.Context, format, name string, v any, tab func() csvTable) error {
	csvOut, err := wantCSV(c, format)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Vary", "Accept")
	if !csvOut {
		return writeJSON(c, http.StatusOK, v)
	}
	t := tab()
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(t.header); err != nil {
		return err
	}
	if err := w.WriteAll(t.rows); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `inline; filename="`+name+`.csv"`)
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func ftoa(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}

func itoaPtr(v *int64) string {
	if v == nil {
		return ""
	}
	return itoa(*v)
}

// num returns v, or nil for NaN (JSON has no NaN).
func num(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func pctName(p float64) string { return "p" + strconv.FormatFloat(p, 'f', -1, 64) }

func pctNames(ps []float64) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = pctName(p)
	}
	return out
}

func pctMap(ps, vals []float64) map[string]*float64 {
	m := make(map[string]*float64, len(ps))
	for i, p := range ps {
		m[pctName(p)] = num(vals[i])
	}
	return m
}

func pctCells(ps []float64, m map[string]*float64) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = ftoa(m[pctName(p)])
	}
	return out
}

func dimNames(ds []analysis.Dimension) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out
}

func groupMap(dims []string, vals []string) map[string]string {
	m := make(map[string]string, len(dims))
	for i, d := range dims {
		m[d] = vals[i]
	}
	return m
}

// groupCells returns the group's values in column order, each made
// safe for spreadsheets (see textCell).
func groupCells(dims []string, m map[string]string) []string {
	out := make([]string, len(dims))
	for i, d := range dims {
		out[i] = textCell(m[d])
	}
	return out
}

// textCell keeps a spreadsheet from reading free text from the data
// (types, stations, …) as a formula: a leading = + - @ or control
// character gets a ' in front (OWASP's advice against CSV injection).
func textCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func prefixed(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func statMinMax(st *analysis.Stat) (mean *float64, lo, hi *int64) {
	if st.Count == 0 {
		return nil, nil, nil
	}
	lo, hi = new(int64), new(int64)
	*lo, *hi = st.Min, st.Max
	return num(st.Mean()), lo, hi
}

// Handlers.

func (s *Server) handleDurations(c echo.Context) error {
	var p durationsParams
	if err := s.bind(c, &p); err != nil {
		return err
	}
	eng, err := s.engine()
	if err != nil {
		return err
	}
	q, err := query(c, &p.statsFilterParams, p.GroupBy, "")
	if err != nil {
		return err
	}
	q.IncludeFlagged = p.IncludeFlagged
	if q.Percentiles, err = parsePercentiles(p.Percentiles); err != nil {
		return err
	}
	metrics, err := parseMetrics(p.Metrics, []analysis.Metric{analysis.Turnout, analysis.Travel, analysis.Response})
	if err != nil {
		return err
	}
	if _, err := wantCSV(c, p.Format); err != nil {
		return err
	}
	res, err := eng.Durations(c.Request().Context(), q, metrics)
	if err != nil {
		return analysisError(err)
	}
	dims := dimNames(res.GroupBy)
	out := DurationsResponse{GroupBy: dims, Percentiles: res.Percentiles, IncludeFlagged: res.IncludeFlagged,
		Rows: make([]DurationRow, 0, len(res.Rows)), Excluded: map[string]Excluded{}}
	for i, m := range res.Metrics {
		out.Metrics = append(out.Metrics, m.String())
		out.Excluded[m.String()] = excludedOf(res.Excluded[i])
	}
	for i := range res.Rows {
		r := &res.Rows[i]
		mean, lo, hi := statMinMax(&r.Stat)
		out.Rows = append(out.Rows, DurationRow{Group: groupMap(dims, r.Group), Metric: r.Metric.String(), Count: r.Count,
			Mean: mean, Min: lo, Max: hi, Percentiles: pctMap(res.Percentiles, r.Percentiles), Excluded: excludedOf(r.Excluded)})
	}
	return respond(c, p.Format, "durations", out, func() csvTable {
		t := csvTable{header: concat(dims, []string{"metric", "count", "mean", "min", "max"}, pctNames(out.Percentiles), prefixed("excluded_", excludedColumns))}
		for _, r := range out.Rows {
			t.rows = append(t.rows, concat(groupCells(dims, r.Group), []string{r.Metric, itoa(r.Count), ftoa(r.Mean), itoaPtr(r.Min), itoaPtr(r.Max)},
				pctCells(out.Percentiles, r.Percentiles), r.Excluded.cells()))
		}
		return t
	})
}

func (s *Server) handleQuality(c echo.Context) error {
	var p qualityParams
	if err := s.bind(c, &p); err != nil {
		return err
	}
	eng, err := s.engine()
	if err != nil {
		return err
	}
	q, err := query(c, &p.statsFilterParams, p.GroupBy, "")
	if err != nil {
		return err
	}
	metrics, err := parseMetrics(p.Metrics, analysis.Metrics())
	if err != nil {
		return err
	}
	if _, err := wantCSV(c, p.Format); err != nil {
		return err
	}
	res, err := eng.Quality(c.Request().Context(), q, metrics)
	if err != nil {
		return analysisError(err)
	}
	dims := dimNames(res.GroupBy)
	out := QualityResponse{GroupBy: dims, Rows: make([]QualityRow, 0, len(res.Rows))}
	for _, m := range res.Metrics {
		out.Metrics = append(out.Metrics, m.String())
	}
	for _, r := range res.Rows {
		row := QualityRow{Group: groupMap(dims, r.Group), Metric: r.Metric.String(), Values: r.Values, OK: r.OK, Flagged: excludedOf(r.Flagged)}
		if r.Values > 0 {
			row.FlaggedShare = num(float64(r.Values-r.OK) / float64(r.Values))
		}
		out.Rows = append(out.Rows, row)
	}
	return respond(c, p.Format, "quality", out, func() csvTable {
		t := csvTable{header: concat(dims, []string{"metric", "values", "ok"}, excludedColumns, []string{"flagged_share"})}
		for _, r := range out.Rows {
			t.rows = append(t.rows, concat(groupCells(dims, r.Group), []string{r.Metric, itoa(r.Values), itoa(r.OK)}, r.Flagged.cells(), []string{ftoa(r.FlaggedShare)}))
		}
		return t
	})
}

func (s *Server) handleNFPA1710(c echo.Context) error {
	var p nfpaParams
	if err := s.bind(c, &p); err != nil {
		return err
	}
	eng, err := s.engine()
	if err != nil {
		return err
	}
	q, err := query(c, &p.statsFilterParams, p.GroupBy, "")
	if err != nil {
		return err
	}
	q.IncludeFlagged = p.IncludeFlagged
	if q.Percentiles, err = parsePercentiles(p.Percentiles); err != nil {
		return err
	}
	for name, v := range map[string]int64{"turnout_ems_seconds": p.TurnoutEMS, "turnout_fire_seconds": p.TurnoutFire,
		"first_engine_travel_seconds": p.FirstEngineTravel, "alarm_processing_seconds": p.AlarmProcessing} {
		if v < 0 {
			return paramError(name, "must not be negative")
		}
	}
	if p.Goal < 0 || p.Goal > 1 || math.IsNaN(p.Goal) {
		return paramError("goal", "must be between 0 and 1")
	}
	if _, err := wantCSV(c, p.Format); err != nil {
		return err
	}
	res, err := eng.NFPA1710(c.Request().Context(), q, analysis.Thresholds{TurnoutEMS: p.TurnoutEMS, TurnoutFire: p.TurnoutFire,
		FirstEngineTravel: p.FirstEngineTravel, AlarmProcessing: p.AlarmProcessing, Goal: p.Goal})
	if err != nil {
		return analysisError(err)
	}
	dims := dimNames(res.GroupBy)
	th := res.Thresholds
	out := ComplianceResponse{GroupBy: dims, Percentiles: res.Percentiles, IncludeFlagged: res.IncludeFlagged, Rows: make([]ComplianceRow, 0, len(res.Rows)),
		Thresholds: ThresholdsJSON{TurnoutEMS: th.TurnoutEMS, TurnoutFire: th.TurnoutFire, FirstEngineTravel: th.FirstEngineTravel, AlarmProcessing: th.AlarmProcessing, Goal: th.Goal}}
	for _, r := range res.Rows {
		out.Rows = append(out.Rows, ComplianceRow{Group: groupMap(dims, r.Group), Measure: string(r.Measure), Threshold: r.Threshold, Count: r.Count,
			Compliant: r.Compliant, Share: num(r.Share), MeetsGoal: r.MeetsGoal, Percentiles: pctMap(res.Percentiles, r.Percentiles), Excluded: excludedOf(r.Excluded)})
	}
	return respond(c, p.Format, "nfpa1710", out, func() csvTable {
		t := csvTable{header: concat(dims, []string{"measure", "threshold_seconds", "count", "compliant", "share", "meets_goal"}, pctNames(out.Percentiles), prefixed("excluded_", excludedColumns))}
		for _, r := range out.Rows {
			t.rows = append(t.rows, concat(groupCells(dims, r.Group), []string{r.Measure, itoa(r.Threshold), itoa(r.Count), itoa(r.Compliant), ftoa(r.Share), strconv.FormatBool(r.MeetsGoal)},
				pctCells(out.Percentiles, r.Percentiles), r.Excluded.cells()))
		}
		return t
	})
}

func (s *Server) handleWorkloadTypes(c echo.Context) error {
	var p workloadParams
	if err := s.bind(c, &p); err != nil {
		return err
	}
	eng, err := s.engine()
	if err != nil {
		return err
	}
	q, err := query(c, &p.statsFilterParams, p.GroupBy, "type,subtype")
	if err != nil {
		return err
	}
	if _, err := wantCSV(c, p.Format); err != nil {
		return err
	}
	res, err := eng.Counts(c.Request().Context(), q)
	if err != nil {
		return analysisError(err)
	}
	dims := dimNames(res.GroupBy)
	out := CountsResponse{GroupBy: dims, Incidents: res.Incidents, UnitResponses: res.UnitResponses, Rows: make([]CountRow, 0, len(res.Rows))}
	for _, r := range res.Rows {
		out.Rows = append(out.Rows, CountRow{Group: groupMap(dims, r.Group), Incidents: r.Incidents, UnitResponses: r.UnitResponses, Share: num(r.Share)})
	}
	return respond(c, p.Format, "workload-types", out, func() csvTable {
		t := csvTable{header: concat(dims, []string{"incidents", "unit_responses", "share"})}
		for _, r := range out.Rows {
			t.rows = append(t.rows, concat(groupCells(dims, r.Group), []string{itoa(r.Incidents), itoa(r.UnitResponses), ftoa(r.Share)}))
		}
		return t
	})
}

func (s *Server) handleHeatmap(c echo.Context) error {
	var p heatmapParams
	if err := s.bind(c, &p); err != nil {
		return err
	}
	eng, err := s.engine()
	if err != nil {
		return err
	}
	f, err := p.filter(c)
	if err != nil {
		return err
	}
	if p.Count == "" {
		p.Count = "incidents"
	}
	if p.Count != "incidents" && p.Count != "unit_responses" {
		return paramError("count", "must be incidents or unit_responses")
	}
	if _, err := wantCSV(c, p.Format); err != nil {
		return err
	}
	res, err := eng.Heatmap(c.Request().Context(), f, p.Count == "unit_responses")
	if err != nil {
		return analysisError(err)
	}
	out := HeatmapResponse{Count: p.Count, Total: res.Total, Rows: make([]HeatmapRow, 7)}
	for d := range 7 {
		row := HeatmapRow{Weekday: time.Weekday((d + 1) % 7).String(), Hours: res.Cells[d][:]}
		for _, v := range row.Hours {
			row.Total += v
		}
		out.Rows[d] = row
	}
	return respond(c, p.Format, "workload-heatmap", out, func() csvTable {
		t := csvTable{header: []string{"weekday"}}
		for h := range 24 {
			t.header = append(t.header, strconv.Itoa(h))
		}
		t.header = append(t.header, "total")
		for _, r := range out.Rows {
			cells := []string{r.Weekday}
			for _, v := range r.Hours {
				cells = append(cells, itoa(v))
			}
			t.rows = append(t.rows, append(cells, itoa(r.Total)))
		}
		return t
	})
}

func (s *Server) handleUtilization(c echo.Context) error {
	var p utilizationParams
	if err := s.bind(c, &p); err != nil {
		return err
	}
	eng, err := s.engine()
	if err != nil {
		return err
	}
	q, err := query(c, &p.statsFilterParams, p.GroupBy, "unit")
	if err != nil {
		return err
	}
	q.IncludeFlagged = p.IncludeFlagged
	if _, err := wantCSV(c, p.Format); err != nil {
		return err
	}
	res, err := eng.Utilization(c.Request().Context(), q)
	if err != nil {
		return analysisError(err)
	}
	dims := dimNames(res.GroupBy)
	out := UtilizationResponse{GroupBy: dims, IncludeFlagged: res.IncludeFlagged, Rows: make([]UtilizationRow, 0, len(res.Rows))}
	if !res.From.IsZero() || !res.To.IsZero() {
		out.From, out.To = &res.From, &res.To
	}
	for _, r := range res.Rows {
		out.Rows = append(out.Rows, UtilizationRow{Group: groupMap(dims, r.Group), Units: r.Units, UnitResponses: r.UnitResponses,
			CommittedSeconds: r.CommittedSeconds, PeriodSeconds: r.PeriodSeconds, Utilization: num(r.Utilization), Excluded: excludedOf(r.Excluded)})
	}
	return respond(c, p.Format, "workload-units", out, func() csvTable {
		t := csvTable{header: concat(dims, []string{"units", "unit_responses", "committed_seconds", "period_seconds", "utilization"}, prefixed("excluded_", excludedColumns))}
		for _, r := range out.Rows {
			t.rows = append(t.rows, concat(groupCells(dims, r.Group), []string{itoa(r.Units), itoa(r.UnitResponses), itoa(r.CommittedSeconds), itoa(r.PeriodSeconds), ftoa(r.Utilization)}, r.Excluded.cells()))
		}
		return t
	})
}

func (s *Server) handleConcurrency(c echo.Context) error {
	var p concurrencyParams
	if err := s.bind(c, &p); err != nil {
		return err
	}
	eng, err := s.engine()
	if err != nil {
		return err
	}
	q, err := query(c, &p.statsFilterParams, p.GroupBy, "")
	if err != nil {
		return err
	}
	if q.Percentiles, err = parsePercentiles(p.Percentiles); err != nil {
		return err
	}
	if _, err := wantCSV(c, p.Format); err != nil {
		return err
	}
	res, err := eng.Concurrency(c.Request().Context(), q)
	if err != nil {
		return analysisError(err)
	}
	dims := dimNames(res.GroupBy)
	out := ConcurrencyResponse{GroupBy: dims, Percentiles: res.Percentiles, UnknownEnd: res.UnknownEnd, Rows: make([]ConcurrencyRow, 0, len(res.Rows))}
	for i := range res.Rows {
		r := &res.Rows[i]
		mean, _, hi := statMinMax(&r.Stat)
		out.Rows = append(out.Rows, ConcurrencyRow{Group: groupMap(dims, r.Group), Incidents: r.Count, Mean: mean, Max: hi,
			Percentiles: pctMap(res.Percentiles, r.Percentiles), WithConcurrent: r.WithConcurrent, Share: num(r.Share)})
	}
	return respond(c, p.Format, "workload-concurrency", out, func() csvTable {
		t := csvTable{header: concat(dims, []string{"incidents", "mean", "max"}, pctNames(out.Percentiles), []string{"with_concurrent", "share"})}
		for _, r := range out.Rows {
			t.rows = append(t.rows, concat(groupCells(dims, r.Group), []string{itoa(r.Incidents), ftoa(r.Mean), itoaPtr(r.Max)},
				pctCells(out.Percentiles, r.Percentiles), []string{itoa(r.WithConcurrent), ftoa(r.Share)}))
		}
		return t
	})
}

func (s *Server) handleIncidentMetrics(c echo.Context) error {
	var p incidentMetricsParams
	if err := s.bind(c, &p); err != nil {
		return err
	}
	if _, err := wantCSV(c, p.Format); err != nil {
		return err
	}
	if err := mustSee(c, p.id()); err != nil {
		return err
	}
	st, err := s.store.Incident(c.Request().Context(), p.id())
	if err != nil {
		return err
	}
	var im *analysis.IncidentMetrics
	cfg := analysis.DefaultConfig()
	if s.analysis != nil {
		im, cfg = s.analysis.Metrics(st.Incident), s.analysis.Config()
	} else if im, err = analysis.Compute(st.Incident, cfg); err != nil {
		return err
	}
	out := incidentMetricsResponse(im, cfg)
	return respond(c, p.Format, "metrics-"+im.ID.Number, out, func() csvTable {
		t := csvTable{header: []string{"scope", "unit_id", "metric", "seconds", "from", "to", "included", "flags", "provided"}}
		add := func(scope, unit string, names []string, ms map[string]MetricValue) {
			for _, n := range names {
				v := ms[n]
				var flags, prov []string
				for _, f := range v.Flags {
					flags = append(flags, f.Reason)
				}
				for _, pv := range v.Provided {
					prov = append(prov, pv.Source+"="+strconv.FormatFloat(pv.Seconds, 'f', -1, 64))
				}
				t.rows = append(t.rows, []string{scope, unit, n, itoaPtr(v.Seconds), v.From, v.To, strconv.FormatBool(v.Included), strings.Join(flags, ";"), strings.Join(prov, ";")})
			}
		}
		var incNames, unitNames []string
		for _, m := range analysis.Metrics() {
			if m.IsUnit() {
				unitNames = append(unitNames, m.String())
			} else {
				incNames = append(incNames, m.String())
			}
		}
		add("incident", "", incNames, out.Metrics)
		for _, u := range out.Apparatus {
			add("unit", u.UnitID, unitNames, u.Metrics)
		}
		return t
	})
}

func metricValue(v *analysis.Value) MetricValue {
	mv := MetricValue{From: v.From, To: v.To, Included: v.Reason() == analysis.OK, Flags: []MetricFlag{}}
	if v.Present {
		sec := v.Seconds
		mv.Seconds = &sec
	}
	for _, f := range v.Flags {
		mv.Flags = append(mv.Flags, MetricFlag{Reason: f.Reason.String(), Detail: f.Detail})
	}
	for _, p := range v.Provided {
		mv.Provided = append(mv.Provided, ProvidedValue{Source: p.Source, Seconds: p.Seconds})
	}
	return mv
}

func incidentMetricsResponse(im *analysis.IncidentMetrics, cfg analysis.Config) IncidentMetricsResponse {
	out := IncidentMetricsResponse{
		FDID: im.ID.Department, IncidentNumber: im.ID.Number, EventOpened: im.EventOpened, Timezone: im.Timezone, TimezoneNote: im.TimezoneNote,
		Local:    LocalTime{Hour: im.Local.Hour, Weekday: im.Local.Weekday.String(), Month: time.Date(im.Local.Year, im.Local.Month, 1, 0, 0, 0, 0, time.UTC).Format("2006-01")},
		NFPAType: "fire", Units: len(im.Units), Metrics: map[string]MetricValue{}, Apparatus: make([]UnitMetricsJSON, 0, len(im.Units)), NFPA1710: []NFPACheck{},
	}
	if im.EMS {
		out.NFPAType = "ems"
	}
	if im.FirstArriving >= 0 {
		out.FirstArrivingUnit = im.Units[im.FirstArriving].UnitID
	}
	if im.FirstEngine >= 0 {
		out.FirstArrivingEngine = im.Units[im.FirstEngine].UnitID
	}
	check := func(measure, unit string, v *analysis.Value, thr int64) NFPACheck {
		c := NFPACheck{Measure: measure, UnitID: unit, Threshold: thr}
		if v.Present {
			sec := v.Seconds
			c.Seconds = &sec
			if v.Reason() == analysis.OK {
				ok := sec <= thr
				c.Compliant = &ok
			}
		}
		return c
	}
	for _, m := range analysis.Metrics() {
		if m.IsUnit() {
			continue
		}
		v := im.Value(m)
		out.Metrics[m.String()] = metricValue(v)
		if len(v.Flags) > 0 {
			out.Flagged++
		}
	}
	turnoutMeasure, turnoutLimit := "turnout_fire", cfg.NFPA.TurnoutFire
	if im.EMS {
		turnoutMeasure, turnoutLimit = "turnout_ems", cfg.NFPA.TurnoutEMS
	}
	for i := range im.Units {
		u := &im.Units[i]
		uj := UnitMetricsJSON{UnitID: u.UnitID, UnitType: u.UnitType, Station: u.Station, Shift: u.Shift, Engine: u.Engine,
			FirstArriving: u.FirstArriving, Metrics: map[string]MetricValue{}}
		for _, m := range analysis.Metrics() {
			if !m.IsUnit() {
				continue
			}
			v := u.Value(m)
			uj.Metrics[m.String()] = metricValue(v)
			if len(v.Flags) > 0 {
				out.Flagged++
			}
		}
		out.Apparatus = append(out.Apparatus, uj)
		out.NFPA1710 = append(out.NFPA1710, check(turnoutMeasure, u.UnitID, u.Value(analysis.Turnout), turnoutLimit))
	}
	engine := out.FirstArrivingEngine
	out.NFPA1710 = append(out.NFPA1710,
		check("first_engine_travel", engine, im.Value(analysis.FirstEngineTravel), cfg.NFPA.FirstEngineTravel),
		check("alarm_processing", "", im.Value(analysis.AlarmProcessing), cfg.NFPA.AlarmProcessing))
	return out
}
