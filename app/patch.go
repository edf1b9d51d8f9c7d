package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
)

// Revisions are kept as reverse JSON merge patches (RFC 7386): the patch
// that turns a version back into the one before it. The current document
// plus the chain of reverse patches gives back every accepted version, and
// an unchanged member costs nothing per revision.
//
// Merge patches replace arrays whole, so in the patch form of an incident
// the apparatus array becomes an object keyed by unit_id, and its order is
// kept under orderKey.

const orderKey = "\x00apparatus_order"

// PatchTree turns an incident's JSON into the tree that reverse patches
// apply to.
func PatchTree(doc []byte) (map[string]any, error) {
	v, err := decodeTree(doc)
	if err != nil {
		return nil, fmt.Errorf("patch tree: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("patch tree: document is not an object")
	}
	if arr, ok := m["apparatus"].([]any); ok {
		units := make(map[string]any, len(arr))
		order := make([]any, 0, len(arr))
		for i, u := range arr {
			um, _ := u.(map[string]any)
			id, _ := um["unit_id"].(string)
			if id == "" {
				id = fmt.Sprintf("\x00%d", i)
			}
			units[id] = u
			order = append(order, id)
		}
		m["apparatus"] = units
		m[orderKey] = order
	}
	return m, nil
}

// TreeJSON turns a patch tree back into an incident's JSON.
func TreeJSON(m map[string]any) ([]byte, error) {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	if units, ok := m["apparatus"].(map[string]any); ok {
		order, _ := m[orderKey].([]any)
		arr := make([]any, 0, len(units))
		for _, id := range order {
			if s, ok := id.(string); ok {
				if u, ok := units[s]; ok {
					arr = append(arr, u)
				}
			}
		}
		out["apparatus"] = arr
	}
	delete(out, orderKey)
	return PatchJSON(out)
}

// PatchJSON encodes a patch or tree. Numbers keep their exact text
// (json.Number), which only encoding/json knows how to write.
func PatchJSON(v map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("patch json: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// Diff returns the merge patch that turns from into to. Neither tree may
// hold nulls (stored documents are normalized), so null in a patch always
// means "remove".
func Diff(from, to map[string]any) map[string]any {
	patch := map[string]any{}
	for k, fv := range from {
		tv, ok := to[k]
		if !ok {
			patch[k] = nil
			continue
		}
		fm, ok1 := fv.(map[string]any)
		tm, ok2 := tv.(map[string]any)
		if ok1 && ok2 {
			if sub := Diff(fm, tm); len(sub) > 0 {
				patch[k] = sub
			}
			continue
		}
		if !reflect.DeepEqual(fv, tv) {
			patch[k] = tv
		}
	}
	for k, tv := range to {
		if _, ok := from[k]; !ok {
			patch[k] = tv
		}
	}
	return patch
}

// ApplyPatch applies a merge patch to target in place and returns it.
func ApplyPatch(target, patch map[string]any) map[string]any {
	if target == nil {
		target = map[string]any{}
	}
	for k, pv := range patch {
		if pv == nil {
			delete(target, k)
			continue
		}
		pm, ok := pv.(map[string]any)
		if !ok {
			target[k] = pv
			continue
		}
		tm, _ := target[k].(map[string]any)
		target[k] = ApplyPatch(tm, pm)
	}
	return target
}
