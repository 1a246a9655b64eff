package cloudtrail

import (
	"fmt"
	"strings"
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

// URL is the object's s3:// address.
func (o Object) URL() string { return "s3://" + o.Bucket + "/" + o.Key }
