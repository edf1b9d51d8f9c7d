package app

import (
	"bytes"
	"encoding/json"
	"reflect"
)

// Merge folds an update into a stored incident, following how incidents
// unfold in a CAD system:
//
//   - objects are merged member by member, recursively;
//   - a member the update does not carry (or carries as null) keeps its
//     stored value;
//   - apparatus are matched by unit_id: a known unit is merged, a new one is
//     appended;
//   - unit_status entries are matched by status key ("dispatched", "~", ...)
//     and merged;
//   - any other array (units, personnel) and any scalar is replaced.
//
// Members neither side's structs know are merged the same way. Merge
// modifies dst and may make it share memory with src; src must not be used
// afterwards. Both must be non-nil.
func Merge(dst, src *Incident) {
	mergeStruct(reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem())
}

var (
	timeType      = reflect.TypeFor[*Time]()
	rawType       = reflect.TypeFor[json.RawMessage]()
	apparatusType = reflect.TypeFor[[]*Apparatus]()
)

func mergeStruct(d, s reflect.Value) {
	for i := 0; i < d.NumField(); i++ {
		df, sf := d.Field(i), s.Field(i)
		switch sf.Kind() {
		case reflect.Pointer:
			switch {
			case sf.IsNil():
			case sf.Type() != timeType && sf.Elem().Kind() == reflect.Struct && !df.IsNil():
				mergeStruct(df.Elem(), sf.Elem())
			default:
				df.Set(sf)
			}
		case reflect.Map:
			mergeMap(df, sf)
		case reflect.Slice:
			switch {
			case sf.IsNil():
			case sf.Type() == apparatusType:
				df.Set(reflect.ValueOf(mergeApparatus(df.Interface().([]*Apparatus), sf.Interface().([]*Apparatus))))
			default:
				df.Set(sf)
			}
		}
	}
}

func mergeMap(d, s reflect.Value) {
	if s.Len() == 0 {
		return
	}
	if d.IsNil() {
		d.Set(reflect.MakeMapWithSize(d.Type(), s.Len()))
	}
	it := s.MapRange()
	for it.Next() {
		k, sv := it.Key(), it.Value()
		dv := d.MapIndex(k)
		switch {
		case sv.Type() == rawType:
			raw := sv.Interface().(json.RawMessage)
			if isNull(raw) {
				continue
			}
			if dv.IsValid() {
				raw = mergeRaw(dv.Interface().(json.RawMessage), raw)
			}
			d.SetMapIndex(k, reflect.ValueOf(raw))
		case sv.Kind() == reflect.Pointer && sv.IsNil():
		case sv.Kind() == reflect.Pointer && dv.IsValid() && !dv.IsNil():
			mergeStruct(dv.Elem(), sv.Elem())
		default:
			d.SetMapIndex(k, sv)
		}
	}
}

func mergeApparatus(dst, src []*Apparatus) []*Apparatus {
	for _, su := range src {
		if su == nil {
			continue
		}
		found := false
		for _, du := range dst {
			if du != nil && Val(du.UnitID) == Val(su.UnitID) {
				mergeStruct(reflect.ValueOf(du).Elem(), reflect.ValueOf(su).Elem())
				found = true
				break
			}
		}
		if !found {
			dst = append(dst, su)
		}
	}
	return dst
}

// mergeRaw merges two verbatim JSON values: objects member by member (nulls
// in the update ignored), anything else replaced.
func mergeRaw(old, upd json.RawMessage) json.RawMessage {
	if isNull(upd) {
		return old
	}
	if !isObject(old) || !isObject(upd) {
		return upd
	}
	o, err1 := decodeTree(old)
	u, err2 := decodeTree(upd)
	if err1 != nil || err2 != nil {
		return upd
	}
	merged, err := json.Marshal(mergeTree(o, u))
	if err != nil {
		return upd
	}
	return merged
}

func mergeTree(old, upd any) any {
	if upd == nil {
		return old
	}
	om, ok1 := old.(map[string]any)
	um, ok2 := upd.(map[string]any)
	if !ok1 || !ok2 {
		return upd
	}
	for k, v := range um {
		if v == nil {
			continue
		}
		om[k] = mergeTree(om[k], v)
	}
	return om
}

// canonicalRaw rewrites a verbatim object or array with sorted member
// names, no insignificant space and no null members in its objects
// (numbers keep their text), so that equal values have equal bytes and an
// identical resend changes nothing.
func canonicalRaw(raw json.RawMessage) (json.RawMessage, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || (t[0] != '{' && t[0] != '[') {
		return nil, false
	}
	v, err := decodeTree(t)
	if err != nil {
		return nil, false
	}
	dropNullMembers(v)
	c, err := json.Marshal(v)
	if err != nil || bytes.Equal(c, raw) {
		return nil, false
	}
	return c, true
}

// dropNullMembers removes the null members of an object and of the
// objects nested in it. Null means "no value"; kept, it would read as
// "remove" in a revision's merge patch and the revision would come back
// without the member. Arrays are kept as sent: merge patches replace
// them whole.
func dropNullMembers(v any) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	for k, e := range m {
		if e == nil {
			delete(m, k)
			continue
		}
		dropNullMembers(e)
	}
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// decodeTree decodes JSON into maps, slices and json.Number, so numbers keep
// their exact text.
func decodeTree(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// Normalize drops the values that mean "nothing": null members kept
// verbatim, null unit statuses and null apparatus entries. A stored incident
// is always normalized, so null never has to be told apart from absence.
func (inc *Incident) Normalize() {
	normalizeStruct(reflect.ValueOf(inc).Elem())
	kept := inc.Apparatus[:0]
	for _, u := range inc.Apparatus {
		if u != nil {
			kept = append(kept, u)
		}
	}
	if inc.Apparatus != nil {
		inc.Apparatus = kept
	}
}

func normalizeStruct(v reflect.Value) {
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Pointer:
			if !f.IsNil() && f.Type() != timeType && f.Elem().Kind() == reflect.Struct {
				normalizeStruct(f.Elem())
			}
		case reflect.Map:
			it := f.MapRange()
			var drop []reflect.Value
			for it.Next() {
				mv := it.Value()
				switch {
				case mv.Type() == rawType && isNull(mv.Interface().(json.RawMessage)):
					drop = append(drop, it.Key())
				case mv.Type() == rawType:
					if c, ok := canonicalRaw(mv.Interface().(json.RawMessage)); ok {
						f.SetMapIndex(it.Key(), reflect.ValueOf(c))
					}
				case mv.Kind() == reflect.Pointer && mv.IsNil():
					drop = append(drop, it.Key())
				case mv.Kind() == reflect.Pointer:
					normalizeStruct(mv.Elem())
				}
			}
			for _, k := range drop {
				f.SetMapIndex(k, reflect.Value{})
			}
		case reflect.Slice:
			if f.Type() == apparatusType {
				for j := 0; j < f.Len(); j++ {
					if e := f.Index(j); !e.IsNil() {
						normalizeStruct(e.Elem())
					}
				}
			}
		}
	}
}
