// Package duration reads and writes the durations trailbell's files and flags take: Go's
// ("90s", "10m", "36h") plus whole or fractional days ("14d", "1.5d"), which rule windows,
// history periods and --since need and time.ParseDuration lacks.
package duration

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Parse reads a non-negative duration written like "90s", "10m", "24h" or "14d".
func Parse(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || !(n >= 0 && n <= maxDays) { // NaN fails both comparisons
			return 0, fmt.Errorf("invalid duration %q (use 90s, 10m, 24h, 14d)", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid duration %q (use 90s, 10m, 24h, 14d)", s)
	}
	return d, nil
}

// maxDays keeps a day count inside time.Duration's range (about 292 years).
const maxDays = 100_000

// Format writes d the way Parse reads it, in the largest whole unit: 14d, 36h, 10m, 90s.
func Format(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d >= time.Minute && d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}
