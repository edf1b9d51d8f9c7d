package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cadbox/search"
	"cadbox/store"

	"github.com/schollz/progressbar/v3"
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
	var bar *progressbar.ProgressBar
	if !*quiet {
		bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(stderr), progressbar.OptionSetDescription("indexing"),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("incidents"),
			progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionOnCompletion(func() { fmt.Fprintln(stderr) }))
	}
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
