package main

import (
	"math/bits"
	"sync"
	"time"
)

// hist is a latency histogram in the manner of HdrHistogram: buckets by
// power of two, each split into 16, so any recorded value is within about
// 6 % of the value it is counted as. It is safe for concurrent use.
type hist struct {
	mu     sync.Mutex
	counts [64 * subBuckets]int64
	n      int64
	max    time.Duration
}

const subBuckets = 16

func bucketOf(d time.Duration) int {
	v := uint64(max(d, 1))
	exp := 63 - bits.LeadingZeros64(v) // v in [2^exp, 2^(exp+1))
	if exp < 4 {
		return int(v) // small values have a bucket each
	}
	sub := int((v >> (exp - 4)) & (subBuckets - 1))
	return exp*subBuckets + sub
}

// lowerBound is the smallest value counted in bucket b.
func lowerBound(b int) time.Duration {
	if b < 4*subBuckets {
		return time.Duration(b)
	}
	exp, sub := b/subBuckets, b%subBuckets
	return time.Duration((uint64(subBuckets) + uint64(sub)) << (exp - 4))
}

func (h *hist) record(d time.Duration) {
	h.mu.Lock()
	h.counts[bucketOf(d)]++
	h.n++
	h.max = max(h.max, d)
	h.mu.Unlock()
}

// quantile returns the value below which the fraction q of the recorded
// values fall (the bucket's lower bound); the maximum for q >= 1.
func (h *hist) quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		return 0
	}
	if q >= 1 {
		return h.max
	}
	rank := int64(q*float64(h.n)) + 1
	var seen int64
	for b, c := range h.counts {
		if seen += c; seen >= rank {
			return min(lowerBound(b), h.max)
		}
	}
	return h.max
}

func (h *hist) count() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}
