// Package openapi serves the API browser: Swagger UI with its assets
// embedded in the binary, so /docs works on a machine with no internet
// access. The spec itself is generated from Go types by package api.
package openapi

import (
	"net/http"

	"github.com/swaggest/swgui"
	"github.com/swaggest/swgui/v5emb"
)

// DocsHandler serves Swagger UI under basePath (for example "/docs/"),
// showing the OpenAPI document at specURL.
func DocsHandler(basePath, specURL string) http.Handler {
	ui := v5emb.NewHandlerWithConfig(swgui.Config{
		Title:       "cadbox API",
		SwaggerJSON: specURL,
		BasePath:    basePath,
		ShowTopBar:  false,
		SettingsUI: map[string]string{
			"defaultModelsExpandDepth": "1",
			"docExpansion":             `"list"`,
			"tryItOutEnabled":          "true",
		},
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == basePath[:len(basePath)-1] {
			http.Redirect(w, r, basePath, http.StatusMovedPermanently)
			return
		}
		ui.ServeHTTP(w, r)
	})
}
