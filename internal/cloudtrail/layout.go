package cloudtrail

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
)

// CloudTrail writes a trail's files under
//
//	[PREFIX/]AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_UNIQUE.json.gz
//
// with Insights events under CloudTrail-Insight/ and digest files (hashes of the log files,
// no records) under CloudTrail-Digest/ in place of CloudTrail/. Under a region folder keys
// sort by time. What the sources know of this layout is said here, once.

// Trail folders: the folder under ACCOUNT/ that holds one kind of file, a folder per region.
const (
	LogFolder     = "CloudTrail"         // log files of management and data events
	InsightFolder = "CloudTrail-Insight" // Insights events
	digestFolder  = "CloudTrail-Digest"
)

// ParseURL splits s3://BUCKET/PREFIX; the prefix may be empty.
func ParseURL(u string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q: want s3://BUCKET/PREFIX", u)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q: no bucket", u)
	}
	return bucket, prefix, nil
}

// URL is the s3:// address of a key or prefix of bucket, as ParseURL reads it.
func URL(bucket, key string) string { return "s3://" + bucket + "/" + key }

// URL is the object's s3:// address.
func (o Object) URL() string { return URL(o.Bucket, o.Key) }

// IsAccountID reports whether s is an AWS account id: 12 digits.
func IsAccountID(s string) bool {
	return len(s) == 12 && strings.Trim(s, "0123456789") == ""
}

// IsOrgID reports whether s is an AWS Organizations id, the o-ORG folder of an organization trail.
func IsOrgID(s string) bool {
	id, ok := strings.CutPrefix(s, "o-")
	return ok && len(id) >= 10 && len(id) <= 32 && strings.Trim(id, "abcdefghijklmnopqrstuvwxyz0123456789") == ""
}

// IsLayoutFolder reports whether name is a folder the layout puts above the region folders
// of log files: AWSLogs, an organization id, an account id, CloudTrail or CloudTrail-Insight.
func IsLayoutFolder(name string) bool {
	return name == "AWSLogs" || name == LogFolder || name == InsightFolder || IsAccountID(name) || IsOrgID(name)
}

// RegionPrefix reports whether prefix ends at a region folder, ACCOUNT/FOLDER/REGION/ with
// FOLDER CloudTrail or CloudTrail-Insight, and returns its parts.
func RegionPrefix(prefix string) (account, folder, region string, ok bool) {
	rest, ok := strings.CutSuffix(prefix, "/")
	if !ok {
		return "", "", "", false
	}
	segs := strings.Split(rest, "/")
	n := len(segs)
	if n < 3 {
		return "", "", "", false
	}
	account, folder, region = segs[n-3], segs[n-2], segs[n-1]
	if account == "" || (folder != LogFolder && folder != InsightFolder) || !isRegionName(region) {
		return "", "", "", false
	}
	return account, folder, region, true
}

func isRegionName(s string) bool {
	return s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
}

// accountFolder returns the folder under ACCOUNT/ that key sits in when key is under
// AWSLogs/[o-ORG/]ACCOUNT/: CloudTrail, CloudTrail-Digest, or another service's.
func accountFolder(key string) (string, bool) {
	segs := strings.Split(key, "/")
	at := slices.Index(segs, "AWSLogs")
	if at < 0 {
		return "", false
	}
	rest := segs[at+1:]
	if len(rest) > 0 && IsOrgID(rest[0]) {
		rest = rest[1:]
	}
	if len(rest) < 2 || !IsAccountID(rest[0]) {
		return "", false
	}
	return rest[1], true
}

// DayPrefix is the folder of t's day under a region prefix.
func DayPrefix(regionPrefix string, t time.Time) string {
	return regionPrefix + t.UTC().Format("2006/01/02/")
}

// KeyAt is where a log file named at t sorts under a region prefix: its day folder and its
// name up to the time, so the keys of files named at t or later sort after it. It is "" when
// prefix is not a region prefix.
func KeyAt(regionPrefix string, t time.Time) string {
	account, folder, region, ok := RegionPrefix(regionPrefix)
	if !ok {
		return ""
	}
	return DayPrefix(regionPrefix, t) + account + "_" + folder + "_" + region + "_" + t.UTC().Format("20060102T1504Z")
}

// DayFolder reports whether a slash-separated path ends at a day folder of a trail folder
// (FOLDER/REGION/YYYY/MM/DD, digest folders included), which holds only that day's files,
// and returns the day.
func DayFolder(p string) (time.Time, bool) {
	segs := strings.Split(p, "/")
	n := len(segs)
	if n < 5 {
		return time.Time{}, false
	}
	switch segs[n-5] {
	case LogFolder, InsightFolder, digestFolder:
	default:
		return time.Time{}, false
	}
	y, m, d := segs[n-3], segs[n-2], segs[n-1]
	if segs[n-4] == "" || len(y) != 4 || len(m) != 2 || len(d) != 2 {
		return time.Time{}, false
	}
	t, err := time.Parse("2006/01/02", y+"/"+m+"/"+d)
	return t, err == nil
}

// IsDigestKey reports whether key names a CloudTrail digest file, which holds hashes, not records.
func IsDigestKey(key string) bool {
	return strings.Contains(key, "/"+digestFolder+"/") || strings.HasPrefix(key, digestFolder+"/") ||
		strings.Contains(path.Base(key), "_"+digestFolder+"_")
}

// IsLogKey reports whether key is named as CloudTrail names log files: .json.gz or .json,
// not a digest. A bucket shared with other logs holds other objects too.
func IsLogKey(key string) bool {
	return (strings.HasSuffix(key, ".json.gz") || strings.HasSuffix(key, ".json")) && !IsDigestKey(key)
}

// KeyTime returns the time in a log file's name (ACCOUNT_CloudTrail_REGION_20260101T1205Z_x.json.gz),
// or, failing that, the day of its YYYY/MM/DD folders.
func KeyTime(key string) (time.Time, bool) {
	base := path.Base(key)
	for _, part := range strings.Split(base, "_") {
		if len(part) == 14 && part[8] == 'T' && part[13] == 'Z' {
			if t, err := time.Parse("20060102T1504Z", part); err == nil {
				return t, true
			}
		}
	}
	parts := strings.Split(path.Dir(key), "/")
	for i := len(parts) - 3; i >= 0; i-- {
		if len(parts[i]) == 4 && len(parts[i+1]) == 2 && len(parts[i+2]) == 2 {
			if t, err := time.Parse("2006/01/02", parts[i]+"/"+parts[i+1]+"/"+parts[i+2]); err == nil {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

// Window selects log files by the time in their key. A log file holds events from before its
// key time (CloudTrail delivers every 5 to 15 minutes), so a file named up to keySlack past
// Until may still hold events before Until. Zero bounds are open.
type Window struct {
	Since, Until time.Time
}

// keySlack is how long after an event its log file may be named.
const keySlack = time.Hour

// Skip says why a listing of log files leaves a key out of a window.
type Skip int

const (
	Keep       Skip = iota // a file to read: no time in its key, or a time of the window
	SkipDigest             // a digest file: hashes, not records
	SkipEarly              // named before the window
	SkipLate               // named past the window; under a region folder every later key is too
)

// SkipKey says whether a listing for the window reads the file named key, and if not, why.
func (w Window) SkipKey(key string) Skip {
	if IsDigestKey(key) {
		return SkipDigest
	}
	t, ok := KeyTime(key)
	switch {
	case !ok:
		return Keep
	case !w.Since.IsZero() && t.Before(w.Since):
		return SkipEarly
	case !w.Until.IsZero() && !t.Before(w.Until.Add(keySlack)):
		return SkipLate
	}
	return Keep
}

// ContainsDay reports whether some log file named on day (a day folder's) may hold events of
// the window.
func (w Window) ContainsDay(day time.Time) bool {
	return (w.Since.IsZero() || day.Add(24*time.Hour).After(w.Since)) &&
		(w.Until.IsZero() || day.Before(w.Until.Add(keySlack)))
}

// Contains reports whether an event at t is inside the window; unknown times (zero) are kept,
// since dropping them would lose records silently.
func (w Window) Contains(t time.Time) bool {
	if t.IsZero() {
		return true
	}
	return (w.Since.IsZero() || !t.Before(w.Since)) && (w.Until.IsZero() || t.Before(w.Until))
}
