// Package codec reads and writes incident documents as JSON. It uses the
// encoding/json/v2 prototype (github.com/go-json-experiment/json): it is
// about twice as fast as encoding/json, it keeps unknown members through
// `json:",embed"` map fields, rejects duplicate names and invalid UTF-8, and
// reports where a value went wrong as a JSON pointer.
package codec

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"

	"cadbox/app"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// strict is how client input is read: case-sensitive names, no duplicate
// names, valid UTF-8 only.
var strict = json.JoinOptions(
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(false),
)

// DecodeIncident decodes one incident document, drops its nulls and
// validates it. Errors are *app.Error: EMALFORMED for text that is not
// JSON, EINVALID (with JSON pointers) for JSON that is not a valid incident.
func DecodeIncident(data []byte) (*app.Incident, error) {
	return decode(data, app.KnownZone)
}

// Decoder decodes many incidents; it remembers which time zones it has
// checked. It is safe for concurrent use.
type Decoder struct {
	zones sync.Map // zone name -> bool
}

// NewDecoder returns a Decoder.
func NewDecoder() *Decoder { return &Decoder{} }

// Decode is DecodeIncident with the decoder's time-zone cache.
func (d *Decoder) Decode(data []byte) (*app.Incident, error) {
	return decode(data, d.knownZone)
}

func (d *Decoder) knownZone(name string) bool {
	if v, ok := d.zones.Load(name); ok {
		return v.(bool)
	}
	ok := app.KnownZone(name)
	if ok { // known zones are a few hundred; unknown names are not kept
		d.zones.Store(name, true)
	}
	return ok
}

func decode(data []byte, knownZone func(string) bool) (*app.Incident, error) {
	var inc app.Incident
	if err := json.Unmarshal(data, &inc, strict); err != nil {
		return nil, Error(err)
	}
	inc.Normalize()
	if err := inc.ValidateWith(knownZone); err != nil {
		return nil, err
	}
	return &inc, nil
}

// Marshal writes v as compact JSON with map members sorted, so equal
// documents always have equal bytes.
func Marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v, json.Deterministic(true))
	if err != nil {
		return nil, fmt.Errorf("marshal %T: %w", v, err)
	}
	return b, nil
}

// MarshalWrite writes v as compact JSON to w.
func MarshalWrite(w io.Writer, v any) error {
	if err := json.MarshalWrite(w, v, json.Deterministic(true)); err != nil {
		return fmt.Errorf("marshal %T: %w", v, err)
	}
	return nil
}

// UnmarshalStrict reads a client's JSON request body into v: unknown
// members, duplicate names and invalid UTF-8 are errors with pointers.
func UnmarshalStrict(data []byte, v any) error {
	if err := json.Unmarshal(data, v, strict, json.RejectUnknownMembers(true)); err != nil {
		return Error(err)
	}
	return nil
}

// Unmarshal reads JSON that cadbox wrote itself (stored records).
func Unmarshal(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("unmarshal %T: %w", v, err)
	}
	return nil
}

// Error turns a JSON decoding error into an *app.Error that names the
// offending place by JSON pointer.
func Error(err error) error {
	var serr *jsontext.SyntacticError
	var merr *json.SemanticError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &app.Error{Code: app.EMALFORMED, Message: "The JSON document is empty or truncated.", Err: err}
	case errors.As(err, &serr):
		ptr := string(serr.JSONPointer)
		if errors.Is(serr.Err, jsontext.ErrDuplicateName) {
			return &app.Error{Code: app.EINVALID, Message: "The JSON object has a duplicate member name.",
				Fields: []app.FieldError{{Pointer: ptr, Message: "is a duplicate member name"}}, Err: err}
		}
		msg := "is not valid JSON"
		if serr.Err != nil {
			msg = "is not valid JSON: " + strings.TrimPrefix(serr.Err.Error(), "jsontext: ")
		}
		return &app.Error{Code: app.EMALFORMED,
			Message: fmt.Sprintf("The body is not valid JSON (at byte %d).", serr.ByteOffset),
			Fields:  []app.FieldError{{Pointer: ptr, Message: msg}}, Err: err}
	case errors.As(err, &merr):
		return &app.Error{Code: app.EINVALID, Message: "The incident is not valid.",
			Fields: []app.FieldError{{Pointer: string(merr.JSONPointer), Message: semanticMessage(merr)}}, Err: err}
	default:
		return &app.Error{Code: app.EMALFORMED, Message: "The body could not be read as JSON.", Err: err}
	}
}

var (
	timeType = reflect.TypeFor[app.Time]()
)

func semanticMessage(e *json.SemanticError) string {
	t := e.GoType
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == timeType {
		if e.Err != nil && e.JSONKind == '"' {
			return e.Err.Error()
		}
		return "must be an RFC 3339 timestamp string such as 2017-05-15T13:19:12-04:00"
	}
	if t == nil {
		return "has the wrong type"
	}
	got := ""
	if e.JSONKind != 0 {
		got = " (got " + kindName(e.JSONKind) + ")"
	}
	switch t.Kind() {
	case reflect.String:
		return "must be a string" + got
	case reflect.Float64, reflect.Float32:
		if e.JSONKind == '0' {
			return "must be a finite number within range"
		}
		return "must be a number" + got
	case reflect.Int64, reflect.Int, reflect.Int32:
		if e.JSONKind == '0' {
			return "must be a whole number within range"
		}
		return "must be a whole number" + got
	case reflect.Bool:
		return "must be true or false" + got
	case reflect.Struct, reflect.Map:
		return "must be an object" + got
	case reflect.Slice, reflect.Array:
		return "must be an array" + got
	}
	return "has the wrong type" + got
}

func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 'f', 't':
		return "a boolean"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "something else"
}
