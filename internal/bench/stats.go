package bench

import "sort"

// Stat is the median, minimum and maximum of a figure over runs.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// statOf summarises xs (the median of an even count is the mean of the
// middle two).
func statOf(xs []float64) Stat {
	if len(xs) == 0 {
		return Stat{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	mid := len(s) / 2
	med := s[mid]
	if len(s)%2 == 0 {
		med = (s[mid-1] + s[mid]) / 2
	}
	return Stat{Median: med, Min: s[0], Max: s[len(s)-1]}
}

// medianInt is the median of ns (the lower middle of an even count).
func medianInt(ns []int64) int64 {
	if len(ns) == 0 {
		return 0
	}
	s := append([]int64(nil), ns...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)/2]
}

func maxInt(ns []int64) int64 {
	var m int64
	for _, n := range ns {
		m = max(m, n)
	}
	return m
}
