package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cadbox/app"
	"cadbox/app/fixture"
	"cadbox/search"
	"cadbox/store"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// runBackup downloads a consistent copy of a running server's store.
func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", firstNonEmpty(getenv("CADBOX_SERVER"), "http://localhost:8080"), "cadbox server URL (CADBOX_SERVER)")
	token := fs.String("token", getenv("CADBOX_TOKEN"), "admin API key (CADBOX_TOKEN)")
	out := fs.String("out", "", `file to write ("-" for standard output)`)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: cadbox backup --out FILE|-\n\nCopies the live store of a running cadbox (consistent, while it serves).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return usageError{errors.New("backup: --out is required")}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(*server, "/")+"/api/v1/admin/backup", nil)
	if err != nil {
		return usageError{fmt.Errorf("backup: %w", err)}
	}
	if *token != "" {
		req.Header.Set("Authorization", "Bearer "+*token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("backup: server answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	start := time.Now()
	var n int64
	if *out == "-" {
		n, err = io.Copy(stdout, resp.Body)
	} else {
		n, err = writeFileAtomic(*out, resp.Body)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if n == 0 {
		return errors.New("backup: the server sent an empty copy")
	}
	if *out != "-" {
		// The copy must be a store that opens and passes the check.
		if err := checkStoreFile(*out); err != nil {
			return fmt.Errorf("backup: the copy in %s is not usable: %w", *out, err)
		}
		fmt.Fprintf(stderr, "backup: %d bytes to %s in %s\n", n, *out, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

func checkStoreFile(path string) error {
	db, err := store.Open(path, store.Options{})
	if err != nil {
		return err
	}
	cerr := db.Check()
	if err := db.Close(); cerr == nil {
		cerr = err
	}
	return cerr
}

// writeFileAtomic writes r to path through a temporary file, synced and
// renamed, so a failed copy never replaces a good one.
func writeFileAtomic(path string, r io.Reader) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".cadbox-backup-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, r)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, err
	}
	return n, os.Rename(tmp.Name(), path)
}

// runRestore replaces the store in the data directory with a backup. The
// server must be stopped (the store's file lock enforces it).
func runRestore(args []string, environ map[string]string, stderr io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", `backup file ("-" for standard input)`)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: cadbox restore --from FILE|-\n\nReplaces the store in CADBOX_DATA_DIR with a backup; run it while cadbox is stopped.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *from == "" || fs.NArg() > 0 {
		fs.Usage()
		return usageError{errors.New("restore: --from is required")}
	}
	cfg, err := loadConfig(environ)
	if err != nil {
		return err
	}
	path := filepath.Join(cfg.DataDir, "cadbox.db")
	// Fail now, not after copying, if a server holds the store.
	if _, err := os.Stat(path); err == nil {
		db, err := store.Open(path, store.Options{})
		if err != nil {
			return fmt.Errorf("restore: %w (stop cadbox first)", err)
		}
		db.Close()
	}
	var r io.Reader = os.Stdin
	if *from != "-" {
		f, err := os.Open(*from)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		defer f.Close()
		r = f
	}
	n, err := store.Restore(r, path)
	if err != nil {
		return err
	}
	if err := removeDerived(cfg.DataDir); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(stderr, "restore: %d bytes into %s; derived indexes will be rebuilt on start\n", n, path)
	return nil
}

// removeDerived deletes state that is rebuilt from the store (the search
// index), so a restored store is never served with a stale index.
func removeDerived(dataDir string) error {
	return os.RemoveAll(filepath.Join(dataDir, "index"))
}

// indexPath is where the search index lives in a data directory.
func indexPath(dataDir string) string { return filepath.Join(dataDir, "index", "incidents.bleve") }

// runReindex rebuilds the search index offline, with a progress bar.
func runReindex(ctx context.Context, args []string, environ map[string]string, stderr io.Writer) error {
	fs := flag.NewFlagSet("reindex", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quiet := fs.Bool("quiet", false, "no progress bar")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: cadbox reindex\n\nRebuilds the search index in CADBOX_DATA_DIR from the store; run it while cadbox is stopped.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := loadConfig(environ)
	if err != nil {
		return err
	}
	db, err := store.Open(filepath.Join(cfg.DataDir, "cadbox.db"), store.Options{})
	if err != nil {
		return fmt.Errorf("reindex: %w (stop cadbox first)", err)
	}
	defer db.Close()
	total, err := db.Count(ctx)
	if err != nil {
		return err
	}
	bar := newBar(total, "indexing", "incidents", stderr, *quiet)
	start := time.Now()
	n, err := search.Rebuild(ctx, indexPath(cfg.DataDir), db, func(done, _ int) {
		if bar != nil {
			_ = bar.Set(done)
		}
	})
	if err != nil {
		return fmt.Errorf("reindex: %w", err)
	}
	if bar != nil {
		_ = bar.Finish()
	}
	fmt.Fprintf(stderr, "reindex: %d incidents in %s\n", n, time.Since(start).Round(time.Millisecond))
	return nil
}

// adminKeyFile is where the first admin key is written on first start.
const adminKeyFile = "admin.key"

// ensureAdminKey makes sure an administrator can get in. With
// CADBOX_ADMIN_TOKEN set, that token is an admin key (created if new).
// Otherwise, on a first start with no keys, an admin key is created and
// written to DATA_DIR/admin.key, readable only by this user.
func ensureAdminKey(ctx context.Context, db *store.DB, cfg config, stdout io.Writer, log *slog.Logger) error {
	now := time.Now()
	if cfg.AdminToken != "" {
		hash := app.HashToken(cfg.AdminToken)
		if _, err := db.KeyByHash(ctx, hash); err == nil {
			return nil
		}
		k := app.APIKey{ID: "key_env_" + hex.EncodeToString(hash[:4]), Name: "CADBOX_ADMIN_TOKEN", Role: app.RoleAdmin, Created: now.UTC(), Hash: hash}
		if err := db.CreateKey(ctx, k); err != nil {
			return fmt.Errorf("admin key from CADBOX_ADMIN_TOKEN: %w", err)
		}
		log.Info("admin key from CADBOX_ADMIN_TOKEN registered", slog.String("key_id", k.ID))
		return nil
	}
	keys, err := db.Keys(ctx)
	if err != nil || len(keys) > 0 {
		return err
	}
	k, token, err := app.NewAPIKey("first admin", app.RoleAdmin, nil, now)
	if err != nil {
		return err
	}
	path := filepath.Join(cfg.DataDir, adminKeyFile)
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := db.CreateKey(ctx, k); err != nil {
		os.Remove(path)
		return err
	}
	log.Info("first admin key created", slog.String("key_id", k.ID), slog.String("file", path))
	fmt.Fprintf(stdout, "  First admin API key (%s) written to %s (mode 0600).\n  Create other keys with it, then delete the file.\n", k.ID, path)
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(stdout, "  Admin key: %s\n", token)
	}
	return nil
}

// runKeys manages API keys: offline on a stopped server's data directory,
// or over HTTP with --server and an admin --token.
func runKeys(ctx context.Context, args []string, environ map[string]string, stdout, stderr io.Writer) error {
	getenv := getenvFunc(environ)
	if len(args) == 0 {
		fmt.Fprintln(stderr, "Usage: cadbox keys create|list|revoke [flags]")
		return usageError{errors.New("keys: give create, list or revoke")}
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", getenv("CADBOX_SERVER"), "manage the keys of a running server at this URL (else: the data directory, server stopped)")
	token := fs.String("token", getenv("CADBOX_TOKEN"), "admin API key, with --server (CADBOX_TOKEN)")
	name := fs.String("name", "", "create: what the key is for")
	role := fs.String("role", "reader", "create: reader, writer or admin")
	depts := fs.String("departments", "", "create: comma-separated fd_ids the key is limited to (empty: all)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	var departments []string
	for _, d := range strings.Split(*depts, ",") {
		if d = strings.TrimSpace(d); d != "" {
			departments = append(departments, d)
		}
	}
	if *server != "" {
		return keysOverHTTP(ctx, sub, fs.Args(), *server, *token, *name, *role, departments, stdout)
	}
	cfg, err := loadConfig(environ)
	if err != nil {
		return err
	}
	db, err := store.Open(filepath.Join(cfg.DataDir, "cadbox.db"), store.Options{})
	if err != nil {
		return fmt.Errorf("keys: %w (stop cadbox, or use --server)", err)
	}
	defer db.Close()
	switch sub {
	case "create":
		k, tok, err := app.NewAPIKey(*name, app.Role(*role), departments, time.Now())
		if err != nil {
			return err
		}
		if err := db.CreateKey(ctx, k); err != nil {
			return err
		}
		return printJSON(stdout, map[string]any{"key": k, "token": tok})
	case "list":
		keys, err := db.Keys(ctx)
		if err != nil {
			return err
		}
		return printJSON(stdout, map[string]any{"keys": keys})
	case "revoke":
		if fs.NArg() != 1 {
			return usageError{errors.New("keys revoke: give one key id")}
		}
		k, err := db.RevokeKey(ctx, fs.Arg(0), time.Now())
		if err != nil {
			return err
		}
		return printJSON(stdout, k)
	}
	return usageError{fmt.Errorf("keys: unknown subcommand %q", sub)}
}

func keysOverHTTP(ctx context.Context, sub string, args []string, server, token, name, role string, departments []string, stdout io.Writer) error {
	base := strings.TrimRight(server, "/") + "/api/v1/keys"
	var req *http.Request
	var err error
	switch sub {
	case "create":
		body, _ := json.Marshal(map[string]any{"name": name, "role": role, "departments": departments})
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, base, bytes.NewReader(body))
		if req != nil {
			req.Header.Set("Content-Type", "application/json")
		}
	case "list":
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, base, nil)
	case "revoke":
		if len(args) != 1 {
			return usageError{errors.New("keys revoke: give one key id")}
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodDelete, base+"/"+url.PathEscape(args[0]), nil)
	default:
		return usageError{fmt.Errorf("keys: unknown subcommand %q", sub)}
	}
	if err != nil {
		return usageError{err}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("keys: server answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	_, err = stdout.Write(append(body, '\n'))
	return err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// runSeed fills a stopped server's data directory with generated
// incidents (realistic, deterministic) and builds their search index.
func runSeed(ctx context.Context, args []string, environ map[string]string, stderr io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 10000, "how many incidents")
	seed := fs.Uint64("seed", 1, "generator seed (same seed, same incidents)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *n < 1 {
		return usageError{errors.New("seed: -n must be at least 1")}
	}
	cfg, err := loadConfig(environ)
	if err != nil {
		return err
	}
	db, err := store.Open(filepath.Join(cfg.DataDir, "cadbox.db"), store.Options{})
	if err != nil {
		return fmt.Errorf("seed: %w (stop cadbox first)", err)
	}
	defer db.Close()
	bar := newBar(*n, "storing", "incidents", stderr, *quiet)
	g := fixture.New(*seed)
	start := time.Now()
	const batch = 1000
	for i := 0; i < *n; i += batch {
		docs := make([]*app.Incident, 0, batch)
		for j := i; j < min(i+batch, *n); j++ {
			docs = append(docs, g.Incident(j))
		}
		if _, err := db.Upsert(ctx, docs, app.WriteOptions{Source: "seed"}); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		if bar != nil {
			_ = bar.Add(len(docs))
		}
	}
	if bar != nil {
		_ = bar.Finish()
	}
	fmt.Fprintf(stderr, "seed: %d incidents stored in %s\n", *n, time.Since(start).Round(time.Millisecond))
	total, err := db.Count(ctx)
	if err != nil {
		return err
	}
	ibar := newBar(total, "indexing", "incidents", stderr, *quiet)
	start = time.Now()
	if _, err := search.Rebuild(ctx, indexPath(cfg.DataDir), db, func(done, _ int) {
		if ibar != nil {
			_ = ibar.Set(done)
		}
	}); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if ibar != nil {
		_ = ibar.Finish()
	}
	fmt.Fprintf(stderr, "seed: %d incidents indexed in %s\n", total, time.Since(start).Round(time.Millisecond))
	return nil
}

func newBar(total int, desc, unit string, w io.Writer, quiet bool) *progressbar.ProgressBar {
	if quiet {
		return nil
	}
	return progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString(unit),
		progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }))
}
