package app

import (
	"fmt"
	"strconv"
	"time"
)

// MaxIDLength bounds fd_id, incident_number and unit_id.
const MaxIDLength = 64

// ValidID reports whether s may identify a department, an incident or a
// unit: 1 to 64 characters, letters, digits and . _ : # -, starting with a
// letter or digit. The rule keeps ids safe in URL paths and storage keys.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == ':' || c == '#' || c == '-'):
		default:
			return false
		}
	}
	return true
}

const idRule = "must be 1-64 characters (letters, digits, and . _ : # -) starting with a letter or digit"

// Validate checks the rules every accepted document meets: the identity
// (fire_department.fd_id, description.incident_number) and
// description.event_opened are present, ids are well-formed, coordinates
// are in range, the time zone is known and each apparatus has a unique
// unit_id. Types and timestamp formats are checked while decoding. It
// returns an EINVALID *Error that lists every problem by JSON pointer.
func (inc *Incident) Validate() error {
	return inc.ValidateWith(KnownZone)
}

// KnownZone reports whether name is an IANA time zone this program knows.
func KnownZone(name string) bool {
	_, err := time.LoadLocation(name)
	return err == nil && name != ""
}

// ValidateWith is Validate with a time-zone check of the caller's (one
// that caches, for bulk decoding: loading a zone costs more than decoding
// the rest of an incident).
func (inc *Incident) ValidateWith(knownZone func(string) bool) error {
	var v validator
	if fd := inc.FireDepartment; fd == nil || fd.FDID == nil {
		v.add("/fire_department/fd_id", "is required")
	} else {
		v.id("/fire_department/fd_id", *fd.FDID)
	}
	if fd := inc.FireDepartment; fd != nil && fd.Timezone != nil {
		if !knownZone(*fd.Timezone) {
			v.add("/fire_department/timezone", "must be an IANA time zone name such as US/Eastern or America/New_York")
		}
	}
	d := inc.Description
	switch {
	case d == nil:
		v.add("/description/incident_number", "is required")
		v.add("/description/event_opened", "is required")
	default:
		if d.IncidentNumber == nil {
			v.add("/description/incident_number", "is required")
		} else {
			v.id("/description/incident_number", *d.IncidentNumber)
		}
		if d.EventOpened == nil {
			v.add("/description/event_opened", "is required")
		}
		if d.HourOfDay != nil && (*d.HourOfDay < 0 || *d.HourOfDay > 23) {
			v.add("/description/hour_of_day", "must be between 0 and 23")
		}
	}
	if a := inc.Address; a != nil {
		v.coords("/address", a.Latitude, a.Longitude)
	}
	if _, ok := inc.Extra[orderKey]; ok {
		// Revisions keep the apparatus order under this name.
		v.add("/"+escapePointer(orderKey), "is a reserved member name")
	}
	seen := make(map[string]int, len(inc.Apparatus))
	for i, u := range inc.Apparatus {
		p := "/apparatus/" + strconv.Itoa(i)
		if u == nil {
			v.add(p, "must be an object")
			continue
		}
		if u.UnitID == nil {
			v.add(p+"/unit_id", "is required")
		} else if v.id(p+"/unit_id", *u.UnitID) {
			if j, dup := seen[*u.UnitID]; dup {
				v.add(p+"/unit_id", fmt.Sprintf("duplicates /apparatus/%d/unit_id; send each unit once per incident", j))
			}
			seen[*u.UnitID] = i
		}
		for key, st := range u.UnitStatus {
			sp := p + "/unit_status/" + escapePointer(key)
			if st == nil {
				continue
			}
			v.coords(sp, st.Latitude, st.Longitude)
		}
	}
	if len(v.errs) > 0 {
		return Invalid("The incident is not valid.", v.errs...)
	}
	return nil
}

type validator struct{ errs []FieldError }

func (v *validator) add(ptr, msg string) {
	v.errs = append(v.errs, FieldError{Pointer: ptr, Message: msg})
}

func (v *validator) id(ptr, s string) bool {
	if !ValidID(s) {
		v.add(ptr, idRule)
		return false
	}
	return true
}

func (v *validator) coords(ptr string, lat, lon *float64) {
	if lat != nil && (*lat < -90 || *lat > 90) {
		v.add(ptr+"/latitude", "must be between -90 and 90")
	}
	if lon != nil && (*lon < -180 || *lon > 180) {
		v.add(ptr+"/longitude", "must be between -180 and 180")
	}
}

// escapePointer escapes a member name for use in a JSON pointer (RFC 6901).
func escapePointer(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '~':
			out = append(out, '~', '0')
		case '/':
			out = append(out, '~', '1')
		default:
			out = append(out, s[i])
		}
	}
	return string(out)
}
