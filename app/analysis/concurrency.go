package analysis

import (
	"cmp"
	"math"
	"slices"
)

// concCache holds the concurrency of every incident row of one table
// generation.
type concCache struct {
	t    *table
	gen  uint64
	vals []uint16
}

// concurrency returns, for each incident row, how many other incidents
// of its department were open when it was opened (saturating at 65535).
// The caller holds e.mu for reading; the result is cached until the
// table changes.
func (e *Engine) concurrency(t *table) []uint16 {
	e.concMu.Lock()
	defer e.concMu.Unlock()
	if e.conc.t == t && e.conc.gen == t.gen && e.conc.vals != nil {
		return e.conc.vals
	}
	vals := computeConcurrency(t)
	e.conc = concCache{t: t, gen: t.gen, vals: vals}
	return vals
}

// computeConcurrency sweeps each department's incidents in order of
// event_opened, keeping a min-heap of the end times of those still open.
// Incident j counts as open for incident i when opened_j < opened_i <
// end_j.
func computeConcurrency(t *table) []uint16 {
	out := make([]uint16, t.nInc)
	rows := make([]uint32, 0, t.nInc-t.deadInc)
	for r := 0; r < t.nInc; r++ {
		b, j := t.incAt(r)
		if b.bits[j]&bitAlive != 0 {
			rows = append(rows, uint32(r))
		}
	}
	slices.SortFunc(rows, func(a, c uint32) int {
		ba, ja := t.incAt(int(a))
		bc, jc := t.incAt(int(c))
		if d := cmp.Compare(ba.dept[ja], bc.dept[jc]); d != 0 {
			return d
		}
		return cmp.Compare(ba.opened[ja], bc.opened[jc])
	})
	var h endHeap
	for i := 0; i < len(rows); {
		b, j := t.incAt(int(rows[i]))
		dept, opened := b.dept[j], b.opened[j]
		if i == 0 {
			h = h[:0]
		} else if pb, pj := t.incAt(int(rows[i-1])); pb.dept[pj] != dept {
			h = h[:0]
		}
		// Close what ended by now.
		for len(h) > 0 && h[0] <= int64(opened) {
			h.pop()
		}
		n := uint16(min(len(h), math.MaxUint16))
		// Every incident opened at this same second sees the same count.
		k := i
		for ; k < len(rows); k++ {
			bk, jk := t.incAt(int(rows[k]))
			if bk.dept[jk] != dept || bk.opened[jk] != opened {
				break
			}
			out[rows[k]] = n
		}
		for ; i < k; i++ {
			bi, ji := t.incAt(int(rows[i]))
			if bi.end[ji] > 0 {
				h.push(int64(bi.opened[ji]) + int64(bi.end[ji]))
			}
		}
	}
	return out
}

// endHeap is a min-heap of end times.
type endHeap []int64

func (h *endHeap) push(v int64) {
	*h = append(*h, v)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if s[p] <= s[i] {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *endHeap) pop() int64 {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && s[l] < s[m] {
			m = l
		}
		if r < n && s[r] < s[m] {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}
