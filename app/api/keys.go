package api

import (
	"net/http"
	"slices"

	"cadbox/app"
	"cadbox/app/codec"

	"github.com/labstack/echo/v4"
)

// KeyCreateRequest asks for a new API key.
type KeyCreateRequest struct {
	Name        string   `json:"name" example:"CAD export job" description:"What the key is for."`
	Role        app.Role `json:"role" enum:"reader,writer,admin" example:"writer"`
	Departments []string `json:"departments,omitempty" example:"[\"76000\"]" description:"fd_ids the key is limited to; empty for all departments."`
}

// KeyCreateResponse carries the new key and its token, shown only now.
type KeyCreateResponse struct {
	Key   app.APIKey `json:"key"`
	Token string     `json:"token" description:"Send as Authorization: Bearer <token>. It is not stored and cannot be shown again."`
}

// KeyListResponse lists keys.
type KeyListResponse struct {
	Keys []app.APIKey `json:"keys"`
}

type keyParams struct {
	ID string `path:"id" description:"Key id." example:"key_0a1b2c3d4e5f"`
}

func (s *Server) handleKeyCreate(c echo.Context) error {
	if err := checkJSONType(c); err != nil {
		return err
	}
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	var req KeyCreateRequest
	if err := codec.UnmarshalStrict(body, &req); err != nil {
		return err
	}
	me := principal(c)
	if !me.Covers(req.Departments) {
		return app.Invalid("A key can only be created within the creating key's departments.",
			app.FieldError{Pointer: "/departments", Message: "must be a non-empty subset of " + joinDepts(me.Departments)})
	}
	k, token, err := app.NewAPIKey(req.Name, req.Role, req.Departments, s.now())
	if err != nil {
		return err
	}
	if err := s.keys.CreateKey(c.Request().Context(), k); err != nil {
		return err
	}
	return writeJSON(c, http.StatusCreated, KeyCreateResponse{Key: k, Token: token})
}

func (s *Server) handleKeyList(c echo.Context) error {
	keys, err := s.keys.Keys(c.Request().Context())
	if err != nil {
		return err
	}
	me := principal(c)
	out := []app.APIKey{}
	for _, k := range keys {
		if me.Covers(k.Departments) {
			out = append(out, k)
		}
	}
	return writeJSON(c, http.StatusOK, KeyListResponse{Keys: out})
}

func (s *Server) handleKeySelf(c echo.Context) error {
	return writeJSON(c, http.StatusOK, principal(c))
}

func (s *Server) handleKeyRevoke(c echo.Context) error {
	var p keyParams
	if err := s.bind(c, &p); err != nil {
		return err
	}
	ctx := c.Request().Context()
	keys, err := s.keys.Keys(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(keys, func(k app.APIKey) bool { return k.ID == p.ID })
	if i < 0 || !principal(c).Covers(keys[i].Departments) {
		return app.Errorf(app.ENOTFOUND, "Key %s was not found.", p.ID)
	}
	k, err := s.keys.RevokeKey(ctx, p.ID, s.now())
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, k)
}

func joinDepts(d []string) string {
	if len(d) == 0 {
		return "all departments"
	}
	out := ""
	for i, x := range d {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}
