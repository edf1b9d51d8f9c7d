// Command mkdict trains the S2 dictionary that the store compresses its
// records with, from generated incidents split the way the store splits
// them (the incident without its apparatus, each apparatus, and the
// listing summary). Run it with `make dict` only together with a new record
// format: records written with one dictionary need that dictionary to be
// read.
package main

import (
	"flag"
	"fmt"
	"os"

	"cadbox/app/codec"
	"cadbox/app/fixture"

	"github.com/klauspost/compress/dict"
)

func main() {
	out := flag.String("o", "store/records.dict", "output file")
	n := flag.Int("n", 4000, "incidents to sample")
	size := flag.Int("size", 64<<10, "dictionary size in bytes (S2 allows 64 KiB)")
	flag.Parse()
	if err := build(*out, *n, *size); err != nil {
		fmt.Fprintln(os.Stderr, "mkdict:", err)
		os.Exit(1)
	}
}

func build(out string, n, size int) error {
	g := fixture.New(20170515)
	var samples [][]byte
	for i := range n {
		inc := g.Incident(i)
		if i%3 == 0 {
			// Later versions too: revisions and merged documents.
			inc = g.Update(inc, i%4)
		}
		head := *inc
		head.Apparatus = nil
		hj, err := codec.Marshal(&head)
		if err != nil {
			return err
		}
		samples = append(samples, hj)
		sj, err := codec.Marshal(inc.Summary())
		if err != nil {
			return err
		}
		samples = append(samples, sj)
		for _, u := range inc.Apparatus {
			uj, err := codec.Marshal(u)
			if err != nil {
				return err
			}
			samples = append(samples, uj)
		}
	}
	d, err := dict.BuildS2Dict(samples, dict.Options{MaxDictSize: size, HashBytes: 6})
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := os.WriteFile(out, d, 0o644); err != nil {
		return err
	}
	fmt.Printf("mkdict: %d samples, dictionary %d bytes -> %s\n", len(samples), len(d), out)
	return nil
}
