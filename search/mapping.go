package search

import (
	"slices"
	"strconv"
	"time"

	"cadbox/app"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/mapping"
)

// mappingVersion changes whenever newMapping or indexDoc changes; an
// index built with another version is rebuilt from the store on start.
const mappingVersion = "5"

// cadAnalyzer splits CAD text on Unicode word boundaries (so
// "T22/H2/H3" gives t22, h2, h3 and "C201713827" stays one token) and
// lower-cases it. There is no stemming: CAD text is abbreviations, unit
// ids and codes, which stemmers mangle.
const cadAnalyzer = "cad"

const docType = "incident"

// Fields of the index (the query-string syntax names them).
const (
	fieldComments   = "comments"
	fieldAddress    = "address"
	fieldPlace      = "place"
	fieldCross      = "cross_streets"
	fieldTypeText   = "type_text"
	fieldSubText    = "subtype_text"
	fieldNumberText = "incident_number_text"
	fieldUnitText   = "unit_text"
	fieldDept       = "department"
	fieldType       = "type"
	fieldSubtype    = "subtype"
	fieldCategory   = "category"
	fieldUnit       = "unit_id"
	fieldUnitType   = "unit_type"
	fieldStation    = "station"
	fieldShift      = "shift"
	fieldZone       = "response_zone"
	fieldFirstDue   = "first_due"
	fieldCity       = "city"
	fieldNumber     = "incident_number"
	fieldOpened     = "event_opened"
	fieldHour       = "hour"
	fieldWeekday    = "weekday"
	fieldLocation   = "location"
	fieldResponse   = "response_seconds"
	fieldDispatch   = "alarm_processing_seconds"
	fieldDuration   = "event_seconds"
	fieldUnitCount  = "units"
)

// textFields are what a term without a field searches: every analyzed
// text field.
var textFields = []string{fieldComments, fieldAddress, fieldPlace, fieldCross, fieldTypeText, fieldSubText, fieldNumberText, fieldUnitText}

// TextFields returns the analyzed text fields, which a query term
// without a field searches.
func TextFields() []string { return slices.Clone(textFields) }

// indexDoc is the slim projection of an incident that the index holds.
// Nothing is stored in the index: hits carry ids and the store hydrates
// them.
type indexDoc struct {
	Comments   string         `json:"comments,omitempty"`
	Address    string         `json:"address,omitempty"`
	Place      string         `json:"place,omitempty"`
	Cross      []string       `json:"cross_streets,omitempty"`
	Department string         `json:"department"`
	Number     string         `json:"incident_number"`
	Type       string         `json:"type,omitempty"`
	Subtype    string         `json:"subtype,omitempty"`
	Category   string         `json:"category,omitempty"`
	Units      []string       `json:"unit_id,omitempty"`
	UnitTypes  []string       `json:"unit_type,omitempty"`
	Stations   []string       `json:"station,omitempty"`
	Shift      string         `json:"shift,omitempty"`
	Zone       string         `json:"response_zone,omitempty"`
	FirstDue   string         `json:"first_due,omitempty"`
	City       string         `json:"city,omitempty"`
	Opened     time.Time      `json:"event_opened"`
	Hour       string         `json:"hour"`
	Weekday    string         `json:"weekday"`
	Location   map[string]any `json:"location,omitempty"`
	Response   *float64       `json:"response_seconds,omitempty"`
	Dispatch   *float64       `json:"alarm_processing_seconds,omitempty"`
	Duration   *float64       `json:"event_seconds,omitempty"`
	UnitCount  float64        `json:"units"`
}

// BleveType names the document mapping.
func (indexDoc) BleveType() string { return docType }

func newMapping() (mapping.IndexMapping, error) {
	im := bleve.NewIndexMapping()
	if err := im.AddCustomAnalyzer(cadAnalyzer, map[string]any{
		"type":          custom.Name,
		"tokenizer":     unicode.Name,
		"token_filters": []string{lowercase.Name},
	}); err != nil {
		return nil, err
	}
	im.DefaultAnalyzer = cadAnalyzer
	im.DefaultMapping = bleve.NewDocumentDisabledMapping()
	im.StoreDynamic, im.IndexDynamic, im.DocValuesDynamic = false, false, false

	// Text fields keep term vectors where phrases are searched (comments,
	// address, place, cross streets; comments also for highlighting),
	// not for one- or two-word codes. Bleve's _all composite field is
	// off: it would copy every text term again, with term vectors bleve
	// cannot turn off for it (a quarter of the index and of indexing
	// time); terms without a field search textFields instead (see
	// expandDefault).
	text := func(name string, vectors bool) *mapping.FieldMapping {
		f := bleve.NewTextFieldMapping()
		f.Name, f.Analyzer, f.Store, f.IncludeTermVectors, f.IncludeInAll, f.DocValues = name, cadAnalyzer, false, vectors, false, false
		return f
	}
	kw := func(name string, inAll, docValues bool) *mapping.FieldMapping {
		f := bleve.NewKeywordFieldMapping()
		f.Name, f.Analyzer, f.Store, f.IncludeTermVectors, f.IncludeInAll, f.DocValues = name, keyword.Name, false, false, inAll, docValues
		return f
	}
	num := func(name string) *mapping.FieldMapping {
		f := bleve.NewNumericFieldMapping()
		f.Name, f.Store, f.IncludeInAll, f.DocValues = name, false, false, false
		return f
	}
	dm := bleve.NewDocumentStaticMapping()
	dm.AddSubDocumentMapping("_all", bleve.NewDocumentDisabledMapping())
	dm.AddFieldMappingsAt("comments", text(fieldComments, true))
	dm.AddFieldMappingsAt("address", text(fieldAddress, true))
	dm.AddFieldMappingsAt("place", text(fieldPlace, true))
	dm.AddFieldMappingsAt("cross_streets", text(fieldCross, true))
	dm.AddFieldMappingsAt("type", kw(fieldType, false, true), text(fieldTypeText, false))
	dm.AddFieldMappingsAt("subtype", kw(fieldSubtype, false, true), text(fieldSubText, false))
	dm.AddFieldMappingsAt("department", kw(fieldDept, false, false))
	dm.AddFieldMappingsAt("incident_number", kw(fieldNumber, false, false), text(fieldNumberText, false))
	dm.AddFieldMappingsAt("category", kw(fieldCategory, false, false))
	dm.AddFieldMappingsAt("unit_id", kw(fieldUnit, false, true), text(fieldUnitText, false))
	dm.AddFieldMappingsAt("unit_type", kw(fieldUnitType, false, false))
	dm.AddFieldMappingsAt("station", kw(fieldStation, false, true))
	dm.AddFieldMappingsAt("shift", kw(fieldShift, false, false))
	dm.AddFieldMappingsAt("response_zone", kw(fieldZone, false, false))
	dm.AddFieldMappingsAt("first_due", kw(fieldFirstDue, false, false))
	dm.AddFieldMappingsAt("city", kw(fieldCity, false, false))
	dm.AddFieldMappingsAt("hour", kw(fieldHour, false, true))
	dm.AddFieldMappingsAt("weekday", kw(fieldWeekday, false, true))
	opened := bleve.NewDateTimeFieldMapping()
	opened.Name, opened.Store, opened.IncludeInAll, opened.DocValues = fieldOpened, false, false, true
	dm.AddFieldMappingsAt("event_opened", opened)
	geo := bleve.NewGeoPointFieldMapping()
	geo.Name, geo.Store, geo.IncludeInAll, geo.DocValues = fieldLocation, false, false, false
	dm.AddFieldMappingsAt("location", geo)
	dm.AddFieldMappingsAt("response_seconds", num(fieldResponse))
	dm.AddFieldMappingsAt("alarm_processing_seconds", num(fieldDispatch))
	dm.AddFieldMappingsAt("event_seconds", num(fieldDuration))
	dm.AddFieldMappingsAt("units", num(fieldUnitCount))
	im.AddDocumentMapping(docType, dm)
	im.DefaultType = docType
	return im, nil
}

// docID is the index's id of an incident: "fd_id/incident_number" (ids
// never contain '/').
func docID(id app.IncidentID) string { return id.Department + "/" + id.Number }

func parseDocID(s string) (app.IncidentID, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return app.IncidentID{Department: s[:i], Number: s[i+1:]}, true
		}
	}
	return app.IncidentID{}, false
}

// project builds the slim projection of an incident; hour and weekday
// are in the department's time zone (UTC when it has none or an unknown
// one).
func project(inc *app.Incident, zones *app.Zones) indexDoc {
	id := inc.ID()
	opened := inc.Opened()
	loc := time.UTC
	if fd := inc.FireDepartment; fd != nil {
		loc, _ = zones.Get(app.Val(fd.Timezone))
	}
	local := opened.In(loc)
	d := indexDoc{
		Department: id.Department, Number: id.Number, Opened: opened.UTC(),
		Hour: strconv.Itoa(local.Hour()), Weekday: local.Weekday().String(),
		UnitCount: float64(len(inc.Apparatus)),
	}
	if fd := inc.FireDepartment; fd != nil {
		d.Shift = app.Val(fd.Shift)
	}
	if desc := inc.Description; desc != nil {
		d.Comments, d.Type, d.Subtype, d.Category = app.Val(desc.Comments), app.Val(desc.Type), app.Val(desc.Subtype), app.Val(desc.Category)
		if s := app.Val(desc.Shift); s != "" {
			d.Shift = s
		}
		if desc.EventClosed != nil {
			d.Duration = seconds(desc.EventClosed.Time().Sub(opened))
		}
	}
	if a := inc.Address; a != nil {
		d.Address, d.Place, d.City = app.Val(a.AddressLine1), app.Val(a.CommonPlaceName), app.Val(a.City)
		d.Zone, d.FirstDue = app.Val(a.ResponseZone), app.Val(a.FirstDue)
		for _, c := range []*string{a.CrossStreet1, a.CrossStreet2} {
			if v := app.Val(c); v != "" {
				d.Cross = append(d.Cross, v)
			}
		}
		if a.Latitude != nil && a.Longitude != nil && !(*a.Latitude == 0 && *a.Longitude == 0) {
			d.Location = map[string]any{"lat": *a.Latitude, "lon": *a.Longitude}
		}
	}
	var firstDispatch, firstArrive time.Time
	for _, u := range inc.Apparatus {
		d.Units = appendUnique(d.Units, app.Val(u.UnitID))
		d.UnitTypes = appendUnique(d.UnitTypes, app.Val(u.UnitType))
		d.Stations = appendUnique(d.Stations, app.Val(u.Station))
		if st := u.UnitStatus["dispatched"]; st != nil && st.Timestamp != nil {
			if t := st.Timestamp.Time(); firstDispatch.IsZero() || t.Before(firstDispatch) {
				firstDispatch = t
			}
		}
		if st := u.UnitStatus["arrived"]; st != nil && st.Timestamp != nil {
			if t := st.Timestamp.Time(); firstArrive.IsZero() || t.Before(firstArrive) {
				firstArrive = t
			}
		}
	}
	if !firstDispatch.IsZero() {
		d.Dispatch = seconds(firstDispatch.Sub(opened))
		if !firstArrive.IsZero() {
			d.Response = seconds(firstArrive.Sub(firstDispatch))
		}
	}
	return d
}

func seconds(d time.Duration) *float64 {
	s := d.Seconds()
	return &s
}

func appendUnique(list []string, s string) []string {
	if s == "" {
		return list
	}
	for _, v := range list {
		if v == s {
			return list
		}
	}
	return append(list, s)
}
