// Package api is cadbox's HTTP interface: an Echo server whose routes,
// listed once in routes(), drive both the handlers and the OpenAPI spec.
package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"cadbox/app"
	"cadbox/app/analysis"
	"cadbox/app/codec"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// Config tunes the server.
type Config struct {
	// BodyLimit caps a request body in bytes (after which 413).
	BodyLimit int64
	// DocumentLimit caps one incident document in bytes, after
	// decompression.
	DocumentLimit int64
	// BatchSize is how many bulk records share one transaction.
	BatchSize int
	// Version is reported by /healthz.
	Version string
	// RateLimit is the requests per second one API key may make (0: no
	// limit), with bursts of RateBurst.
	RateLimit float64
	RateBurst int
	// TrustedProxies are the networks whose X-Forwarded-For and
	// X-Forwarded-Proto headers are believed (a load balancer).
	TrustedProxies []*net.IPNet
	// CORSOrigins are the browser origins allowed to call the API from
	// other sites; empty disables CORS.
	CORSOrigins []string
	// MetricsAllow are the networks that may read GET /metrics without
	// a key (a Prometheus server); anyone else needs a reader key.
	MetricsAllow []*net.IPNet
}

// ReadyFunc reports whether a dependency is ready to serve.
type ReadyFunc func(ctx context.Context) error

// Server serves the API.
type Server struct {
	echo     *echo.Echo
	store    app.IncidentStore
	backup   func(ctx context.Context, w io.Writer) (int64, error)
	search   app.IncidentIndex
	log      *slog.Logger
	cfg      Config
	ready    []namedCheck
	spec     []byte
	routes   []route
	decoders decoders
	analysis *analysis.Engine
	dec      *codec.Decoder
	keys     app.KeyStore
	limiter  middleware.RateLimiterStore
	now      func() time.Time
	metrics  *metrics
	// extraOpen are the open routes registered outside the route table.
	extraOpen [][2]string
}

// open registers a route that needs no key, outside the route table.
func (s *Server) open(method, path string, h echo.HandlerFunc) {
	s.echo.Add(method, path, h)
	s.extraOpen = append(s.extraOpen, [2]string{method, path})
}

type namedCheck struct {
	name string
	fn   ReadyFunc
}

// Deps are what the server serves from.
type Deps struct {
	Store app.IncidentStore
	// Keys authenticates requests; without it every protected route
	// answers 401.
	Keys app.KeyStore
	// Backup writes a consistent copy of the store (GET /api/v1/admin/backup).
	Backup func(ctx context.Context, w io.Writer) (int64, error)
	// Search answers GET /api/v1/search (nil: search is disabled).
	Search app.IncidentIndex
	// Docs serves the API browser under /docs/ (nil: none).
	Docs http.Handler
	// UI serves the web UI at / and /ui/* (nil: / redirects to /docs/).
	UI  http.Handler
	Log *slog.Logger
	// Analysis answers the /api/v1/stats routes and incident metrics
	// (nil: stats answer 503; incident metrics use the defaults).
	Analysis *analysis.Engine
	// Gauges are read when GET /metrics is scraped.
	Gauges Gauges
}

// NewServer builds the API. The store's Ping is a readiness check;
// AddReadyCheck adds more.
func NewServer(deps Deps, cfg Config) (*Server, error) { return newServer(deps, cfg, true) }

// newServer builds the API; without observe, requests are not counted
// (to measure what counting costs).
func newServer(deps Deps, cfg Config, observe bool) (*Server, error) {
	store, log, docs := deps.Store, deps.Log, deps.Docs
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = 64 << 20
	}
	if cfg.DocumentLimit <= 0 {
		cfg.DocumentLimit = 4 << 20
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.RateBurst <= 0 {
		cfg.RateBurst = max(1, int(cfg.RateLimit*2))
	}
	s := &Server{echo: echo.New(), store: store, backup: deps.Backup, search: deps.Search, log: log, cfg: cfg,
		dec: codec.NewDecoder(), keys: deps.Keys, limiter: newLimiter(cfg), now: time.Now, analysis: deps.Analysis}
	s.ready = append(s.ready, namedCheck{"store", store.Ping})
	m, err := newMetrics(cfg.Version, deps.Gauges, log)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	s.metrics = m
	e := s.echo
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.IPExtractor = ipExtractor(cfg.TrustedProxies)
	e.Pre(func(next echo.HandlerFunc) echo.HandlerFunc {
		// A client's request id is kept only when it is short and plain.
		return func(c echo.Context) error {
			h := c.Request().Header
			if id := h.Get(echo.HeaderXRequestID); id != "" && !validRequestID(id) {
				h.Del(echo.HeaderXRequestID)
			}
			return next(c)
		}
	})
	e.Use(middleware.RequestIDWithConfig(middleware.RequestIDConfig{
		Generator: newRequestID,
	}))
	if observe {
		e.Use(s.observe)
	}
	e.Use(s.accessLog)
	e.Use(s.securityHeaders)
	if len(cfg.CORSOrigins) > 0 {
		e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins:  cfg.CORSOrigins,
			AllowMethods:  []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete},
			AllowHeaders:  []string{echo.HeaderAuthorization, echo.HeaderContentType, echo.HeaderContentEncoding, "If-Match", "If-None-Match"},
			ExposeHeaders: []string{"ETag", "Location", "Retry-After", echo.HeaderXRequestID},
			MaxAge:        600,
		}))
	}
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.log.Error("panic", slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
				slog.Any("error", err), slog.String("stack", string(stack)))
			return err
		},
	}))
	s.routes = append(s.routeTable(), s.metricsRoutes()...)
	s.decoders = newDecoders(s.routes)
	for _, r := range s.routes {
		if r.access == accessUndecided {
			return nil, fmt.Errorf("route %s %s has no access decision", r.method, r.path)
		}
		e.Add(r.method, r.path, s.authorize(r.access, r.handler))
	}
	spec, err := buildSpec(s.routes, cfg.Version)
	if err != nil {
		return nil, err
	}
	s.spec = spec
	// Open routes outside the table: the spec, the API browser and the
	// UI shell (its data calls need a key).
	s.open(http.MethodGet, "/openapi.json", func(c echo.Context) error {
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, s.spec)
	})
	if docs != nil {
		s.open(http.MethodGet, "/docs", echo.WrapHandler(docs))
		s.open(http.MethodGet, "/docs/*", echo.WrapHandler(docs))
	}
	if deps.UI != nil {
		ui := echo.WrapHandler(deps.UI)
		s.open(http.MethodGet, "/", ui)
		s.open(http.MethodGet, "/ui", ui)
		s.open(http.MethodGet, "/ui/*", ui)
	} else {
		s.open(http.MethodGet, "/", func(c echo.Context) error { return c.Redirect(http.StatusFound, "/docs/") })
	}
	s.metrics.setRoutes(e.Routes())
	return s, nil
}

// Decision is one route's access decision.
type Decision struct {
	Method, Path, ID string
	// Access is open, reader, writer or admin.
	Access string
	// AllowList is true when the route also answers, without a key,
	// requests from the addresses in Config.MetricsAllow.
	AllowList bool
}

// Decisions lists the access decision of every route the server has,
// those outside the route table (spec, docs, UI) included.
func (s *Server) Decisions() []Decision {
	var out []Decision
	for _, r := range s.routes {
		out = append(out, Decision{Method: r.method, Path: r.path, ID: r.id, Access: r.access.String(),
			AllowList: r.access == accessReaderOrAllowed})
	}
	for _, r := range s.extraOpen {
		out = append(out, Decision{Method: r[0], Path: r[1], ID: r[1], Access: accessOpen.String()})
	}
	return out
}

// AddReadyCheck makes /readyz depend on fn as well.
func (s *Server) AddReadyCheck(name string, fn ReadyFunc) {
	s.ready = append(s.ready, namedCheck{name, fn})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// Spec returns the OpenAPI document.
func (s *Server) Spec() []byte { return s.spec }

// Routes lists the registered method and path pairs (Echo syntax), the
// OpenAPI and docs routes included.
func (s *Server) Routes() []*echo.Route { return s.echo.Routes() }

func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		req, res := c.Request(), c.Response()
		lvl := slog.LevelInfo
		if res.Status >= 500 {
			lvl = slog.LevelError
		}
		s.log.LogAttrs(req.Context(), lvl, "request",
			slog.String("request_id", res.Header().Get(echo.HeaderXRequestID)),
			slog.String("method", req.Method),
			slog.String("path", req.URL.Path),
			slog.String("route", c.Path()),
			slog.Any("key_id", c.Get(ctxKeyID)),
			slog.Int("status", res.Status),
			slog.Int64("bytes_in", req.ContentLength),
			slog.Int64("bytes_out", res.Size),
			slog.Duration("latency", time.Since(start)),
			slog.String("remote", c.RealIP()))
		return nil
	}
}

func writeJSON(c echo.Context, status int, v any) error {
	h := c.Response().Header()
	if h.Get(echo.HeaderContentType) == "" {
		h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	}
	c.Response().WriteHeader(status)
	if c.Request().Method == http.MethodHead {
		return nil
	}
	return codec.MarshalWrite(c.Response(), v)
}

// echoPath turns an Echo path (/a/:b) into an OpenAPI one (/a/{b}).
func echoPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") {
			parts[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}
