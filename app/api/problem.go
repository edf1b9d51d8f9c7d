package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"cadbox/app"

	"github.com/labstack/echo/v4"
)

// Problem is an RFC 9457 problem details object. Validation problems list
// each offending place by JSON pointer in Errors.
type Problem struct {
	Type      string           `json:"type" example:"urn:cadbox:problem:invalid" description:"Stable identifier of the kind of problem."`
	Title     string           `json:"title" example:"Unprocessable Content"`
	Status    int              `json:"status" example:"422"`
	Detail    string           `json:"detail,omitempty" example:"The incident is not valid."`
	Instance  string           `json:"instance,omitempty" description:"The request path."`
	RequestID string           `json:"request_id,omitempty" description:"Quote it when reporting a problem; the server log has the details."`
	Errors    []app.FieldError `json:"errors,omitempty" description:"Each offending place: a JSON pointer into the document, or a query or path parameter as /name."`
}

// problemContentType is the media type of Problem bodies.
const problemContentType = "application/problem+json"

// statusOf maps an error code to an HTTP status. This table is the only
// place that knows both.
var statusOf = map[app.Code]int{
	app.EINVALID:      http.StatusUnprocessableEntity,
	app.EMALFORMED:    http.StatusBadRequest,
	app.ENOTFOUND:     http.StatusNotFound,
	app.ECONFLICT:     http.StatusConflict,
	app.EPRECONDITION: http.StatusPreconditionFailed,
	app.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	app.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	app.EUNAVAILABLE:  http.StatusServiceUnavailable,
	app.EFULL:         http.StatusInsufficientStorage,
	app.EINTERNAL:     http.StatusInternalServerError,
	app.EUNAUTHORIZED: http.StatusUnauthorized,
	app.EFORBIDDEN:    http.StatusForbidden,
	app.ERATELIMITED:  http.StatusTooManyRequests,
}

// codeOfStatus maps the statuses Echo itself produces back to codes.
var codeOfStatus = map[int]app.Code{
	http.StatusNotFound:              app.ENOTFOUND,
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusRequestEntityTooLarge: app.ETOOLARGE,
	http.StatusUnsupportedMediaType:  app.EUNSUPPORTED,
	http.StatusBadRequest:            app.EMALFORMED,
	http.StatusServiceUnavailable:    app.EUNAVAILABLE,
}

// problemFor builds the problem for err. Unexpected errors become a
// generic 500 whose detail says nothing about internals.
func problemFor(err error) Problem {
	var he *echo.HTTPError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		err = app.Errorf(app.ETOOLARGE, "The request body is larger than the limit of %d bytes (CADBOX_BODY_LIMIT).", mbe.Limit)
	case errors.As(err, &he):
		code, ok := codeOfStatus[he.Code]
		if !ok {
			code = app.Code(slugOf(he.Code))
		}
		detail := http.StatusText(he.Code) + "."
		switch he.Code {
		case http.StatusNotFound:
			detail = "No such route. The API is described at /openapi.json and /docs."
		case http.StatusMethodNotAllowed:
			detail = "This route does not accept that method; see /docs."
		}
		return Problem{Type: problemType(code), Title: http.StatusText(he.Code), Status: he.Code, Detail: detail}
	}
	code := app.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	return Problem{
		Type:   problemType(code),
		Title:  http.StatusText(status),
		Status: status,
		Detail: app.ErrorMessage(err),
		Errors: app.ErrorFields(err),
	}.validUTF8()
}

// validUTF8 replaces invalid UTF-8 in the members that can quote a
// client (a path, an id, a member name): JSON cannot carry it, and the
// problem would break off after its status was sent.
func (p Problem) validUTF8() Problem {
	fix := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
	p.Detail, p.Instance = fix(p.Detail), fix(p.Instance)
	if p.Errors != nil {
		errs := make([]app.FieldError, len(p.Errors))
		for i, e := range p.Errors {
			errs[i] = app.FieldError{Pointer: fix(e.Pointer), Message: fix(e.Message)}
		}
		p.Errors = errs
	}
	return p
}

func problemType(code app.Code) string { return "urn:cadbox:problem:" + string(code) }

func slugOf(status int) string {
	b := []byte(http.StatusText(status))
	for i, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			b[i] = c + 'a' - 'A'
		case c == ' ' || c == '-':
			b[i] = '_'
		}
	}
	return string(b)
}

// errorHandler is Echo's HTTPErrorHandler: every error of every route,
// Echo's own 404/405/413 and recovered panics included, leaves as
// application/problem+json.
// statusClientClosed records a request its client abandoned.
const statusClientClosed = 499

func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	if errors.Is(err, context.Canceled) && c.Request().Context().Err() != nil {
		// The client went away (closed the connection mid-upload): not a
		// server failure. Logged and counted as 499, as proxies do; what
		// was committed before stays committed.
		s.log.InfoContext(c.Request().Context(), "client closed the request", slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
			slog.String("method", c.Request().Method), slog.String("path", c.Request().URL.Path))
		c.Response().WriteHeader(statusClientClosed)
		return
	}
	p := problemFor(err)
	p.Instance = c.Request().URL.Path
	p.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
	p = p.validUTF8()
	if p.Status >= 500 {
		s.log.ErrorContext(c.Request().Context(), "request failed", slog.String("request_id", p.RequestID),
			slog.String("method", c.Request().Method), slog.String("path", p.Instance), slog.Any("error", err))
	}
	if p.Status == http.StatusServiceUnavailable || p.Status == http.StatusInsufficientStorage {
		c.Response().Header().Set("Retry-After", "30")
	}
	if err := writeProblem(c, p); err != nil {
		s.log.Warn("write problem", slog.Any("error", err))
	}
}

func writeProblem(c echo.Context, p Problem) error {
	c.Response().Header().Set(echo.HeaderContentType, problemContentType)
	if c.Request().Method == http.MethodHead {
		return c.NoContent(p.Status)
	}
	return writeJSON(c, p.Status, p)
}
