package api

import (
	_ "embed"
	"fmt"
	"reflect"
	"strings"
	"time"

	"cadbox/app"

	"github.com/go-json-experiment/json"
	"github.com/swaggest/jsonschema-go"
	"github.com/swaggest/openapi-go"
	"github.com/swaggest/openapi-go/openapi3"
)

// exampleIncident is a real CAD export (Richmond, VA, incident
// F01705150050), used as the request example in the spec.
//
//go:embed testdata/example_incident.json
var exampleIncident []byte

// buildSpec generates the OpenAPI 3 document from the route table and the
// Go types the routes take and return.
func buildSpec(routes []route, version string) ([]byte, error) {
	r := openapi3.NewReflector()
	if version == "" {
		version = "dev"
	}
	r.Spec.Info.WithTitle("cadbox API").WithVersion(version).WithDescription(specDescription)
	jr := &r.Reflector
	jr.AddTypeMapping(app.Time{}, time.Time{})
	jr.AddTypeMapping(app.Extra{}, map[string]any{})
	jr.DefaultOptions = append(jr.DefaultOptions, jsonschema.InterceptProp(func(p jsonschema.InterceptPropParams) error {
		// Members the structs do not know are kept: the Extra maps are
		// inlined in JSON, so in the schema they are additionalProperties.
		if p.Field.Type == reflect.TypeFor[app.Extra]() && strings.Contains(p.Field.Tag.Get("json"), "embed") {
			if p.ParentSchema != nil {
				p.ParentSchema.WithAdditionalProperties(jsonschema.SchemaOrBool{TypeBoolean: ptr(true)})
			}
			return jsonschema.ErrSkipProperty
		}
		return nil
	}))
	r.SpecEns().SetHTTPBearerTokenSecurity("apiKey", "cbx_…", "An API key: Authorization: Bearer <key>. Roles: reader, writer, admin; a key may be limited to departments.")
	var example any
	if err := json.Unmarshal(exampleIncident, &example); err != nil {
		return nil, fmt.Errorf("spec example: %w", err)
	}
	for _, rt := range routes {
		oc, err := r.NewOperationContext(rt.method, echoPath(rt.path))
		if err != nil {
			return nil, fmt.Errorf("spec %s %s: %w", rt.method, rt.path, err)
		}
		oc.SetID(rt.id)
		oc.SetTags(rt.tag)
		oc.SetSummary(rt.summary)
		oc.SetDescription(rt.doc)
		if rt.params != nil {
			oc.AddReqStructure(rt.params)
		}
		for _, b := range rt.bodies {
			opts := []openapi.ContentOption{openapi.WithContentType(b.contentType)}
			if _, ok := b.schema.(*app.Incident); ok {
				opts = append(opts, openapi.WithCustomize(func(cor openapi.ContentOrReference) {
					if rb, ok := cor.(*openapi3.RequestBodyOrRef); ok && rb.RequestBody != nil {
						mt := rb.RequestBody.Content[b.contentType]
						mt.Example = &example
						rb.RequestBody.Content[b.contentType] = mt
					}
				}))
			}
			oc.AddReqStructure(b.schema, opts...)
		}
		responses := rt.responses
		if rt.access != accessOpen {
			oc.AddSecurity("apiKey")
			oc.SetDescription(rt.doc + "\n\nNeeds a key with the " + rt.access.String() + " role or above.")
			have := map[int]bool{}
			for _, r := range responses {
				have[r.status] = true
			}
			for _, st := range []int{401, 403, 429} {
				if !have[st] {
					responses = append(responses, response{status: st, contentType: problemContentType, schema: new(Problem), doc: statusText(st)})
				}
			}
		}
		for _, resp := range responses {
			opts := []openapi.ContentOption{openapi.WithHTTPStatus(resp.status)}
			if resp.contentType != "" {
				opts = append(opts, openapi.WithContentType(resp.contentType))
			}
			if resp.doc != "" {
				opts = append(opts, func(cu *openapi.ContentUnit) { cu.Description = resp.doc })
			}
			oc.AddRespStructure(resp.schema, opts...)
			if resp.headers != nil {
				oc.AddRespStructure(resp.headers, openapi.WithHTTPStatus(resp.status))
			}
		}
		if err := r.AddOperation(oc); err != nil {
			return nil, fmt.Errorf("spec %s %s: %w", rt.method, rt.path, err)
		}
	}
	addStatic(r)
	b, err := r.Spec.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	return b, nil
}

// addStatic documents the routes that serve the spec and its browser.
func addStatic(r *openapi3.Reflector) {
	for path, summary := range map[string]string{
		"/openapi.json": "This OpenAPI document",
		"/docs":         "The API browser (Swagger UI, served offline)",
	} {
		oc, err := r.NewOperationContext("GET", path)
		if err != nil {
			continue
		}
		oc.SetTags("Operations")
		oc.SetSummary(summary)
		oc.AddRespStructure(nil, openapi.WithHTTPStatus(200))
		_ = r.AddOperation(oc)
	}
}

func ptr[T any](v T) *T { return &v }

func statusText(st int) string {
	switch st {
	case 401:
		return "No valid API key (problem+json; WWW-Authenticate: Bearer)."
	case 403:
		return "The key's role does not allow this."
	case 429:
		return "Too many requests for this key; see Retry-After."
	}
	return ""
}

const specDescription = `cadbox stores, searches and analyses 911 / CAD incident data in the NFORS/StatEngine shape.

Incidents unfold: the same incident is sent again and again as it changes, so every upload is an upsert, every
accepted version is kept as a revision, and a 2xx means the data is on disk.

Every error is application/problem+json (RFC 9457) with a stable type (urn:cadbox:problem:…), a detail for
people and, for validation, errors[] with a JSON pointer to each offending member.`
