// Command mkdict trains the S2 dictionaries of the store's format-2
// records from generated incidents, on what the store compresses: the
// JSON that remains of the incident (without its apparatus) and of each
// apparatus once store/internal/pack has taken its timestamps and
// coordinates. It writes incidents2.dict and apparatus2.dict into -dir.
//
// Run it (make dict) only together with a new record format: records
// written with one dictionary need that dictionary to be read.
// records.dict, the format-1 dictionary (whole records, trained the same
// way before format 2), is frozen and not written.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"cadbox/app/codec"
	"cadbox/app/fixture"
	"cadbox/store/internal/pack"

	"github.com/klauspost/compress/dict"
)

func main() {
	dir := flag.String("dir", "store", "output directory")
	n := flag.Int("n", 4000, "incidents to sample")
	size := flag.Int("size", 64<<10, "largest dictionary size in bytes (S2 allows 64 KiB)")
	flag.Parse()
	if err := build(*dir, *n, *size); err != nil {
		fmt.Fprintln(os.Stderr, "mkdict:", err)
		os.Exit(1)
	}
}

func build(dir string, n, size int) error {
	g := fixture.New(20170515)
	var incidents, apparatus [][]byte
	for i := range n {
		inc := g.Incident(i)
		if i%3 == 0 {
			// Later versions too: units added and completed as the
			// incident unfolds.
			inc = g.Update(inc, i%4)
		}
		head := *inc
		head.Apparatus = nil
		_, rest := pack.Incident(nil, &head)
		hj, err := codec.Marshal(rest)
		if err != nil {
			return err
		}
		incidents = append(incidents, hj)
		for _, u := range inc.Apparatus {
			_, rest := pack.Apparatus(nil, u)
			uj, err := codec.Marshal(rest)
			if err != nil {
				return err
			}
			apparatus = append(apparatus, uj)
		}
	}
	// One dictionary per record kind: trained together, the apparatus
	// records (more, and smaller) lose to the incidents' strings.
	for _, d := range []struct {
		name    string
		samples [][]byte
	}{{"incidents2.dict", incidents}, {"apparatus2.dict", apparatus}} {
		b, err := dict.BuildS2Dict(d.samples, dict.Options{MaxDictSize: size, HashBytes: 6})
		if err != nil {
			return fmt.Errorf("train %s: %w", d.name, err)
		}
		out := filepath.Join(dir, d.name)
		if err := os.WriteFile(out, b, 0o644); err != nil {
			return err
		}
		fmt.Printf("mkdict: %d samples, dictionary %d bytes -> %s\n", len(d.samples), len(b), out)
	}
	return nil
}
