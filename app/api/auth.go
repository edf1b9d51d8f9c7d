package api

import (
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cadbox/app"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"
)

// access is the decision a route makes about who may call it. Every route
// must make one: the zero value stops the server from starting.
type access int

const (
	accessUndecided access = iota
	accessOpen             // no key: health, spec, docs, the UI shell
	accessReader
	accessWriter
	accessAdmin
	// accessReaderOrAllowed is a reader key, or no key from an address
	// in Config.MetricsAllow (a Prometheus server): GET /metrics.
	accessReaderOrAllowed
)

func (a access) role() app.Role {
	switch a {
	case accessReader, accessReaderOrAllowed:
		return app.RoleReader
	case accessWriter:
		return app.RoleWriter
	case accessAdmin:
		return app.RoleAdmin
	}
	return ""
}

func (a access) String() string {
	if a == accessOpen {
		return "open"
	}
	if a == accessUndecided {
		return "undecided"
	}
	return string(a.role())
}

// authorize wraps a handler with authentication (Bearer API key), role
// and rate checks. Key lookups go to the store on every request, so a
// revocation takes effect on the next one.
func (s *Server) authorize(a access, next echo.HandlerFunc) echo.HandlerFunc {
	if a == accessOpen {
		return next
	}
	need := a.role()
	return func(c echo.Context) error {
		if a == accessReaderOrAllowed && s.allowedWithoutKey(c) {
			return next(c)
		}
		req := c.Request()
		token := app.ParseBearer(req.Header.Get(echo.HeaderAuthorization))
		fail := func(reason string, err error) error {
			s.log.Warn("authentication failed", slog.String("reason", reason), slog.String("remote", c.RealIP()),
				slog.String("method", req.Method), slog.String("path", req.URL.Path),
				slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)))
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="cadbox"`)
			return err
		}
		if s.keys == nil {
			return fail("no key store", app.Errorf(app.EUNAUTHORIZED, "This server has no API keys configured."))
		}
		if token == "" {
			if req.Header.Get(echo.HeaderAuthorization) == "" {
				return fail("no key", app.Errorf(app.EUNAUTHORIZED, "An API key is required: send Authorization: Bearer <key>."))
			}
			return fail("malformed", app.Errorf(app.EUNAUTHORIZED, "The Authorization header is not a Bearer API key."))
		}
		k, err := s.keys.KeyByHash(req.Context(), app.HashToken(token))
		switch {
		case app.ErrorCode(err) == app.ENOTFOUND || (err == nil && !app.TokenMatches(token, k.Hash)):
			return fail("unknown key", app.Errorf(app.EUNAUTHORIZED, "The API key is not valid."))
		case err != nil:
			return err
		case k.Revoked != nil:
			return fail("revoked key "+k.ID, app.Errorf(app.EUNAUTHORIZED, "The API key was revoked."))
		}
		c.Set(ctxKeyID, k.ID)
		if !k.Role.Includes(need) {
			s.log.Warn("forbidden", slog.String("key_id", k.ID), slog.String("role", string(k.Role)), slog.String("need", string(need)),
				slog.String("path", req.URL.Path))
			return app.Errorf(app.EFORBIDDEN, "This key's role (%s) may not do this; it needs %s.", k.Role, need)
		}
		if s.limiter != nil {
			if ok, _ := s.limiter.Allow(k.ID); !ok {
				s.metrics.rateLimited.Inc()
				wait := int(math.Ceil(1 / math.Max(float64(s.cfg.RateLimit), 0.001)))
				c.Response().Header().Set("Retry-After", strconv.Itoa(max(wait, 1)))
				return app.Errorf(app.ERATELIMITED, "Too many requests for this key; slow down (limit %g/s, burst %d).", s.cfg.RateLimit, s.cfg.RateBurst)
			}
		}
		c.SetRequest(req.WithContext(app.WithPrincipal(req.Context(), &k)))
		return next(c)
	}
}

// ctxKeyID is the Echo context key of the authenticated key's id (for the
// access log).
const ctxKeyID = "cadbox.key_id"

// principal returns the request's key. Routes behind authorize always
// have one; an open route gets an all-department reader view of nothing.
func principal(c echo.Context) *app.APIKey {
	if k := app.PrincipalFrom(c.Request().Context()); k != nil {
		return k
	}
	return &app.APIKey{Departments: []string{"\x00none"}}
}

// scope returns the departments a request may see (nil: all).
func scope(c echo.Context) []string {
	k := principal(c)
	if k.AllDepartments() {
		return nil
	}
	return k.Departments
}

// mustSee returns ENOTFOUND (not EFORBIDDEN: a scoped key must not learn
// that another department's incident exists) when the request may not
// see the incident.
func mustSee(c echo.Context, id app.IncidentID) error {
	if !principal(c).MaySee(id.Department) {
		return app.Errorf(app.ENOTFOUND, "Incident %s of department %s was not found.", id.Number, id.Department)
	}
	return nil
}

func newLimiter(cfg Config) middleware.RateLimiterStore {
	if cfg.RateLimit <= 0 {
		return nil
	}
	return middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
		Rate: rate.Limit(cfg.RateLimit), Burst: cfg.RateBurst, ExpiresIn: 3 * time.Minute,
	})
}

// securityHeaders sets the headers every response carries.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		csp := "default-src 'self'; img-src 'self' data: blob: https:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
		if strings.HasPrefix(c.Request().URL.Path, "/docs") {
			// Swagger UI starts itself with an inline script.
			csp = strings.Replace(csp, "script-src 'self'", "script-src 'self' 'unsafe-inline'", 1)
		}
		h.Set("Content-Security-Policy", csp)
		if s.isTLS(c) {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		return next(c)
	}
}

// isTLS reports whether the client's connection is HTTPS: TLS here, or
// X-Forwarded-Proto: https from a trusted proxy.
func (s *Server) isTLS(c echo.Context) bool {
	r := c.Request()
	if r.TLS != nil {
		return true
	}
	return strings.EqualFold(r.Header.Get(echo.HeaderXForwardedProto), "https") && s.fromTrustedProxy(r)
}

func (s *Server) fromTrustedProxy(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	for _, n := range s.cfg.TrustedProxies {
		if ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

// ipExtractor honours X-Forwarded-For only from trusted proxies.
func ipExtractor(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
