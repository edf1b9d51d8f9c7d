package analysis

import (
	"math"
	"slices"
)

// Percentile returns the p-th percentile (0 ≤ p ≤ 100) of sorted values,
// by linear interpolation between the closest ranks — numpy's default
// ("linear") method: with n values and h = (n−1)·p/100, it is
// x[⌊h⌋] + (h−⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]). It returns NaN for no values.
func Percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	lo, frac := rank(n, p)
	hi := min(lo+1, n-1)
	return sorted[lo] + frac*(sorted[hi]-sorted[lo])
}

// rank returns ⌊h⌋ and h−⌊h⌋ for h = (n−1)·p/100.
func rank(n int, p float64) (int, float64) {
	h := float64(n-1) * p / 100
	lo := math.Floor(h)
	return min(int(lo), n-1), h - lo
}

// Stat summarizes the values of one aggregate cell.
type Stat struct {
	// Count is how many values went into the aggregate.
	Count int64
	// Sum, Min and Max are of those values (seconds); Min and Max are
	// meaningful only when Count > 0.
	Sum, Min, Max int64
	// Percentiles are aligned with the result's Percentiles (NaN when
	// Count is 0).
	Percentiles []float64
	// Excluded counts the values left out, by reason (index: Reason).
	Excluded Excluded
}

// Mean returns Sum / Count (NaN when Count is 0).
func (s *Stat) Mean() float64 {
	if s.Count == 0 {
		return math.NaN()
	}
	return float64(s.Sum) / float64(s.Count)
}

// Excluded counts values left out of an aggregate, indexed by Reason (the
// OK slot is unused).
type Excluded [numReasons]int64

// Total returns the number of values left out.
func (e *Excluded) Total() int64 {
	var n int64
	for _, v := range e[1:] {
		n += v
	}
	return n
}

func (e *Excluded) add(o *Excluded) {
	for i := range e {
		e[i] += o[i]
	}
}

// summarizer computes order statistics, reusing a counting buffer.
type summarizer struct {
	ps     []float64
	counts []uint32
	ranks  []int
	perm   []int
	at     []float64
}

// summarize fills s from vals (which it may reorder).
func (sm *summarizer) summarize(vals []int32, s *Stat) {
	n := len(vals)
	s.Count = int64(n)
	s.Percentiles = make([]float64, len(sm.ps))
	if n == 0 {
		for i := range s.Percentiles {
			s.Percentiles[i] = math.NaN()
		}
		return
	}
	lo, hi := vals[0], vals[0]
	var sum int64
	for _, v := range vals {
		lo, hi = min(lo, v), max(hi, v)
		sum += int64(v)
	}
	s.Sum, s.Min, s.Max = sum, int64(lo), int64(hi)
	// The order statistics needed: ⌊h⌋ and ⌊h⌋+1 of each percentile.
	sm.ranks = sm.ranks[:0]
	for _, p := range sm.ps {
		r, _ := rank(n, p)
		sm.ranks = append(sm.ranks, r, min(r+1, n-1))
	}
	sm.at = sm.at[:0]
	span := int64(hi) - int64(lo)
	if n >= 64 && span < 1<<20 && span <= 8*int64(n) {
		sm.countingSelect(vals, lo, int(span)+1)
	} else {
		slices.Sort(vals)
		for _, r := range sm.ranks {
			sm.at = append(sm.at, float64(vals[r]))
		}
	}
	for i, p := range sm.ps {
		_, frac := rank(n, p)
		a, b := sm.at[2*i], sm.at[2*i+1]
		s.Percentiles[i] = a + frac*(b-a)
	}
}

// countingSelect finds the values at sm.ranks with a counting pass over
// the value range [lo, lo+width).
func (sm *summarizer) countingSelect(vals []int32, lo int32, width int) {
	if cap(sm.counts) < width {
		sm.counts = make([]uint32, width)
	}
	c := sm.counts[:width]
	clear(c)
	for _, v := range vals {
		c[v-lo]++
	}
	// Visit the wanted ranks in increasing order.
	sm.perm = sm.perm[:0]
	for i := range sm.ranks {
		sm.perm = append(sm.perm, i)
	}
	slices.SortFunc(sm.perm, func(a, b int) int { return sm.ranks[a] - sm.ranks[b] })
	sm.at = slices.Grow(sm.at[:0], len(sm.ranks))[:len(sm.ranks)]
	cum, k := 0, 0
	for i := 0; i < width && k < len(sm.perm); i++ {
		cum += int(c[i])
		for k < len(sm.perm) && sm.ranks[sm.perm[k]] < cum {
			sm.at[sm.perm[k]] = float64(int64(lo) + int64(i))
			k++
		}
	}
}
