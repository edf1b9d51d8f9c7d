// Command cadbox is a self-hosted appliance that stores, searches and
// analyses 911 / CAD incident data. `cadbox serve` (the default) runs the
// server; `cadbox import` streams files to a running server.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // time zones for validation and analysis, even on a bare host

	"cadbox/app"
	"cadbox/app/analysis"
	"cadbox/app/api"
	"cadbox/app/importer"
	"cadbox/openapi"
	"cadbox/search"
	"cadbox/store"
	"cadbox/web"

	"github.com/caarlos0/env/v11"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

// exitUsage is the exit status for bad flags or configuration.
const exitUsage = 2

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], nil, os.Stdout, os.Stderr)
	var ue usageError
	switch {
	case err == nil:
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "cadbox:", err)
		os.Exit(exitUsage)
	default:
		fmt.Fprintln(os.Stderr, "cadbox:", err)
		os.Exit(1)
	}
}

// usageError is a mistake in flags or configuration (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// config is read from the environment (prefix CADBOX_). Each field is a
// row of the README's configuration table.
type config struct {
	Addr              string        `env:"ADDR" envDefault:":8080"`
	DataDir           string        `env:"DATA_DIR" envDefault:"./data"`
	BodyLimit         int64         `env:"BODY_LIMIT" envDefault:"268435456"`
	DocumentLimit     int64         `env:"DOCUMENT_LIMIT" envDefault:"4194304"`
	BatchSize         int           `env:"BATCH_SIZE" envDefault:"1000"`
	LogLevel          slog.Level    `env:"LOG_LEVEL" envDefault:"INFO"`
	LogFormat         string        `env:"LOG_FORMAT" envDefault:"json"`
	ShutdownTimeout   time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
	ReadHeaderTimeout time.Duration `env:"READ_HEADER_TIMEOUT" envDefault:"10s"`
	ReadTimeout       time.Duration `env:"READ_TIMEOUT" envDefault:"10m"`
	WriteTimeout      time.Duration `env:"WRITE_TIMEOUT" envDefault:"10m"`
	IdleTimeout       time.Duration `env:"IDLE_TIMEOUT" envDefault:"2m"`
	AdminToken        string        `env:"ADMIN_TOKEN"`
	TLSCert           string        `env:"TLS_CERT"`
	TLSKey            string        `env:"TLS_KEY"`
	HTTPRedirectAddr  string        `env:"HTTP_REDIRECT_ADDR"`
	TrustedProxies    []string      `env:"TRUSTED_PROXIES"`
	CORSOrigins       []string      `env:"CORS_ORIGINS"`
	RateLimit         float64       `env:"RATE_LIMIT" envDefault:"50"`
	RateBurst         int           `env:"RATE_BURST" envDefault:"100"`
	MinFree           int64         `env:"MIN_FREE" envDefault:"67108864"`
	MetricsAllow      []string      `env:"METRICS_ALLOW"`
}

// trustedNets parses CADBOX_TRUSTED_PROXIES.
func (c config) trustedNets() ([]*net.IPNet, error) {
	return parseNets("CADBOX_TRUSTED_PROXIES", c.TrustedProxies)
}

// metricsNets parses CADBOX_METRICS_ALLOW.
func (c config) metricsNets() ([]*net.IPNet, error) {
	return parseNets("CADBOX_METRICS_ALLOW", c.MetricsAllow)
}

// parseNets parses a list of addresses and CIDR ranges (an address is a
// range of one).
func parseNets(name string, list []string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			if ip := net.ParseIP(s); ip != nil && ip.To4() != nil {
				s += "/32"
			} else {
				s += "/128"
			}
		}
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not an address or CIDR range", name, s)
		}
		out = append(out, n)
	}
	return out, nil
}

func (c config) validate() error {
	var errs []error
	if c.BodyLimit < 1024 {
		errs = append(errs, errors.New("CADBOX_BODY_LIMIT must be at least 1024 bytes"))
	}
	if c.DocumentLimit < 1024 || c.DocumentLimit > c.BodyLimit {
		errs = append(errs, errors.New("CADBOX_DOCUMENT_LIMIT must be between 1024 bytes and CADBOX_BODY_LIMIT"))
	}
	if c.BatchSize < 1 || c.BatchSize > 100000 {
		errs = append(errs, errors.New("CADBOX_BATCH_SIZE must be between 1 and 100000"))
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		errs = append(errs, errors.New(`CADBOX_LOG_FORMAT must be "json" or "text"`))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("CADBOX_DATA_DIR must not be empty"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("CADBOX_TLS_CERT and CADBOX_TLS_KEY go together"))
	}
	if c.HTTPRedirectAddr != "" && c.TLSCert == "" {
		errs = append(errs, errors.New("CADBOX_HTTP_REDIRECT_ADDR needs CADBOX_TLS_CERT and CADBOX_TLS_KEY"))
	}
	if c.AdminToken != "" && app.ParseBearer("Bearer "+c.AdminToken) == "" || (c.AdminToken != "" && len(c.AdminToken) < 32) {
		errs = append(errs, errors.New("CADBOX_ADMIN_TOKEN must be at least 32 characters of letters, digits and -._~+/="))
	}
	if c.RateLimit < 0 || c.RateBurst < 0 {
		errs = append(errs, errors.New("CADBOX_RATE_LIMIT and CADBOX_RATE_BURST must not be negative"))
	}
	if c.MinFree < 0 {
		errs = append(errs, errors.New("CADBOX_MIN_FREE must not be negative (0 turns the free-space reserve off)"))
	}
	if _, err := c.trustedNets(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.metricsNets(); err != nil {
		errs = append(errs, err)
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("CADBOX_ADDR %q must be host:port or :port", c.Addr))
	}
	for name, d := range map[string]time.Duration{"SHUTDOWN_TIMEOUT": c.ShutdownTimeout, "READ_HEADER_TIMEOUT": c.ReadHeaderTimeout,
		"READ_TIMEOUT": c.ReadTimeout, "WRITE_TIMEOUT": c.WriteTimeout, "IDLE_TIMEOUT": c.IdleTimeout} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("CADBOX_%s must be a positive duration such as 20s", name))
		}
	}
	return errors.Join(errs...)
}

func loadConfig(environ map[string]string) (config, error) {
	cfg, err := env.ParseAsWithOptions[config](env.Options{Environment: environ, Prefix: "CADBOX_"})
	if err != nil {
		return cfg, usageError{fmt.Errorf("configuration: %w", err)}
	}
	if err := cfg.validate(); err != nil {
		return cfg, usageError{fmt.Errorf("configuration: %w", err)}
	}
	return cfg, nil
}

const usage = `cadbox stores, searches and analyses 911 / CAD incident data.

Usage:
  cadbox [serve]                 run the server (configured by CADBOX_* environment variables)
  cadbox import [flags] PATH...  upload .json/.ndjson(.gz) files or directories to a running server
  cadbox backup --out FILE|-     copy the live store of a running server (consistent, while it serves)
  cadbox restore --from FILE|-   replace the store in CADBOX_DATA_DIR with a backup (server stopped)
  cadbox reindex                 rebuild the search index from the store (server stopped)
  cadbox keys create|list|revoke manage API keys (server stopped, or --server URL --token ADMIN_KEY)
  cadbox seed -n N               write N generated incidents into CADBOX_DATA_DIR and index them (demos, load tests)
  cadbox version                 print the version

Run "cadbox import -h" for the import flags.
`

// run executes one subcommand. environ nil means the process environment.
func run(ctx context.Context, args []string, environ map[string]string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(stderr)
		if err := fs.Parse(args); err != nil {
			return usageError{err}
		}
		cfg, err := loadConfig(environ)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stdout, stderr, nil)
	case "import":
		return runImport(ctx, args, environ, stdout, stderr)
	case "backup":
		return runBackup(ctx, args, getenvFunc(environ), stdout, stderr)
	case "restore":
		return runRestore(args, environ, stderr)
	case "reindex":
		return runReindex(ctx, args, environ, stderr)
	case "keys":
		return runKeys(ctx, args, environ, stdout, stderr)
	case "seed":
		return runSeed(ctx, args, environ, stderr)
	case "version":
		fmt.Fprintln(stdout, "cadbox", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Errorf("unknown command %q", cmd)}
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// serve runs the server until ctx ends, then shuts down gracefully:
// in-flight requests finish (up to the shutdown timeout), then the store
// is closed. If ready is not nil it receives the listening address.
func serve(ctx context.Context, cfg config, stdout, stderr io.Writer, ready chan<- string) error {
	log := newLogger(cfg, stderr)
	dbPath := filepath.Join(cfg.DataDir, "cadbox.db")
	db, err := store.Open(dbPath, store.Options{MinFree: cfg.MinFree})
	if err != nil {
		return err
	}
	defer func() {
		if err := db.Close(); err != nil {
			log.Error("close store", slog.Any("error", err))
		}
	}()
	ix, err := search.Open(ctx, indexPath(cfg.DataDir), db, search.Options{Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		if err := ix.Close(); err != nil {
			log.Error("close search index", slog.Any("error", err))
		}
	}()
	eng, err := analysis.New(db, analysis.Config{})
	if err != nil {
		return usageError{fmt.Errorf("analysis configuration: %w", err)}
	}
	buildDone := make(chan struct{})
	go func() {
		// Loads the analysis tables from the store; /readyz is 503 and
		// the stats routes answer 503 until it is done.
		defer close(buildDone)
		start := time.Now()
		if err := eng.Build(ctx); err != nil && ctx.Err() == nil {
			log.Error("analysis build failed", slog.Any("error", err))
			return
		}
		log.Info("analysis tables loaded", slog.Duration("took", time.Since(start)))
	}()
	defer func() { <-buildDone }()
	svc := app.NewService(db, ix, eng)
	svc.OnFollowError = func(ctx context.Context, f app.Follower, err error) {
		log.WarnContext(ctx, "derived state behind the store", slog.String("follower", f.Name()), slog.Any("error", err))
	}
	if err := ensureAdminKey(ctx, db, cfg, stdout, log); err != nil {
		return err
	}
	trusted, _ := cfg.trustedNets()      // validated with the config
	metricsAllow, _ := cfg.metricsNets() // likewise
	srv, err := api.NewServer(api.Deps{
		Store: svc, Search: ix, Analysis: eng, Keys: db, Backup: db.Backup, Log: log, Docs: openapi.DocsHandler("/docs/", "/openapi.json"),
		UI:     web.Handler(),
		Gauges: api.Gauges{StoreSeq: db.LastSeq, IndexedSeq: ix.Applied, StoreBytes: db.Size, IndexBytes: ix.Size, Incidents: ix.DocCount},
	}, api.Config{BodyLimit: cfg.BodyLimit, DocumentLimit: cfg.DocumentLimit, BatchSize: cfg.BatchSize, Version: version,
		RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst, TrustedProxies: trusted, CORSOrigins: cfg.CORSOrigins,
		MetricsAllow: metricsAllow})
	if err != nil {
		return err
	}
	srv.AddReadyCheck("search", ix.Ready)
	// The analysis tables are not a readiness check: loading them from a
	// large store takes minutes, and the load balancer must not hold
	// back incident writes, reads and search for that. The stats routes
	// answer 503 with the progress until they are loaded.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	addr := ln.Addr().String()
	scheme := "http"
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("TLS certificate: %w", err)
		}
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		ln = tls.NewListener(ln, hs.TLSConfig)
		scheme = "https"
	}
	base := scheme + "://" + displayHost(addr)
	log.Info("cadbox serving", slog.String("addr", addr), slog.String("data", dbPath), slog.String("version", version))
	fmt.Fprintf(stdout, "cadbox %s serving %s\n  API:         %s/api/v1/incidents\n  API browser: %s/docs/\n  OpenAPI:     %s/openapi.json\n  Health:      %s/healthz  %s/readyz\n",
		version, dbPath, base, base, base, base, base)
	if ready != nil {
		ready <- addr
	}
	errc := make(chan error, 2)
	// Serve on our own listener so the address is known (":0" in tests)
	// before the first request.
	go func() { errc <- hs.Serve(ln) }()
	var redirect *http.Server
	if cfg.HTTPRedirectAddr != "" {
		redirect = &http.Server{Addr: cfg.HTTPRedirectAddr, ReadHeaderTimeout: cfg.ReadHeaderTimeout, IdleTimeout: cfg.IdleTimeout,
			Handler: httpsRedirect(addr)}
		go func() { errc <- redirect.ListenAndServe() }()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", slog.Duration("timeout", cfg.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if redirect != nil {
		_ = redirect.Shutdown(sctx)
	}
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// httpsRedirect sends every plain-HTTP request to the HTTPS listener.
func httpsRedirect(tlsAddr string) http.Handler {
	_, port, _ := net.SplitHostPort(tlsAddr)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if port != "443" {
			host = net.JoinHostPort(host, port)
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}

func displayHost(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// getenvFunc reads environ, or the process environment when it is nil.
func getenvFunc(environ map[string]string) func(string) string {
	if environ == nil {
		return os.Getenv
	}
	return func(k string) string { return environ[k] }
}

func runImport(ctx context.Context, args []string, environ map[string]string, stdout, stderr io.Writer) error {
	getenv := getenvFunc(environ)
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", firstNonEmpty(getenv("CADBOX_SERVER"), "http://localhost:8080"), "cadbox server URL (CADBOX_SERVER)")
	token := fs.String("token", getenv("CADBOX_TOKEN"), "API key (CADBOX_TOKEN)")
	batch := fs.Int("batch", 500, "incidents per request")
	workers := fs.Int("workers", 2, "concurrent requests")
	quiet := fs.Bool("quiet", false, "no progress bar")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: cadbox import [flags] FILE|DIR...\n\nUploads .json, .ndjson, .json.gz and .ndjson.gz files (directories are walked) to a running cadbox.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usageError{errors.New("import: give at least one file or directory")}
	}
	opts := importer.Options{Server: *server, Token: *token, BatchDocs: *batch, Workers: *workers}
	if !*quiet {
		opts.Progress = stderr
	}
	sum, err := importer.Run(ctx, fs.Args(), opts)
	sum.Write(stdout)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if sum.Failed > 0 {
		return fmt.Errorf("import: %d of %d incidents failed", sum.Failed, sum.Documents)
	}
	return nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
