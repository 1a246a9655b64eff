// Package s3 finds and opens CloudTrail log files under an s3://bucket/prefix, for scans of
// an archive. It lists with pagination, skips digest files and files outside a time window
// by their key, and narrows the listing to the window when the prefix is one trail region.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailbell/trailbell/internal/cloudtrail"
)

// API is the part of the S3 client a Source uses.
type API interface {
	s3.ListObjectsV2APIClient
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Source lists and reads objects. It is safe for concurrent use.
type Source struct {
	client   API
	pageSize int32
}

// New lists and reads with client (internal/app builds it); pageSize is the number of keys
// per list request, 0 for S3's default (1000).
func New(client API, pageSize int32) *Source {
	return &Source{client: client, pageSize: pageSize}
}

// Object is one log file to read.
type Object = cloudtrail.Object

// Skipped counts what Walk left out, by reason.
type Skipped struct {
	Digest     int
	OutOfRange int
}

// Check reports whether url can be scanned: it parses, and its bucket can be listed there.
// An empty prefix is no error; a missing bucket or a denied listing is.
func (s *Source) Check(ctx context.Context, url string) error {
	bucket, prefix, err := cloudtrail.ParseURL(url)
	if err != nil {
		return err
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(1)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	if _, err := s.client.ListObjectsV2(ctx, in); err != nil {
		return fmt.Errorf("list %s: %w", url, err)
	}
	return nil
}

// Walk lists the objects under url in key order and calls fn for each log file of the window.
// With a window, a prefix above the region folders (s3://b/AWSLogs/, an account, ...) is first
// expanded into its region folders, each listed from the window's first day: an archive of
// years is not listed whole to scan a week.
func (s *Source) Walk(ctx context.Context, url string, w cloudtrail.Window, fn func(Object) error) (Skipped, error) {
	var sk Skipped
	bucket, prefix, err := cloudtrail.ParseURL(url)
	if err != nil {
		return sk, err
	}
	prefixes := []string{prefix}
	if !w.Since.IsZero() || !w.Until.IsZero() {
		if regions, ok, err := s.regionPrefixes(ctx, bucket, prefix, 0); err != nil {
			return sk, fmt.Errorf("list %s: %w", url, err)
		} else if ok {
			prefixes = regions
		}
	}
	for _, p := range prefixes {
		if err := s.walkPrefix(ctx, bucket, p, w, &sk, fn); err != nil {
			return sk, err
		}
	}
	return sk, nil
}

// regionPrefixes finds the region folders under prefix by listing folders level by level.
// ok is false when prefix does not sit in CloudTrail's layout, or a level holds anything
// else (files, other folders): then the caller lists everything, so nothing is missed.
// Digest folders are left out: they hold no records.
func (s *Source) regionPrefixes(ctx context.Context, bucket, prefix string, depth int) ([]string, bool, error) {
	if _, _, _, ok := cloudtrail.RegionPrefix(prefix); ok {
		return []string{prefix}, true, nil
	}
	if depth > 4 || (prefix != "" && !strings.HasSuffix(prefix, "/")) {
		return nil, false, nil
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Delimiter: aws.String("/")}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	var out []string
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, false, err
		}
		for _, o := range page.Contents {
			if aws.ToString(o.Key) != prefix { // a folder marker is not content
				return nil, false, nil
			}
		}
		for _, cp := range page.CommonPrefixes {
			child := aws.ToString(cp.Prefix)
			name := strings.TrimSuffix(strings.TrimPrefix(child, prefix), "/")
			switch _, _, _, region := cloudtrail.RegionPrefix(child); {
			case region:
				out = append(out, child)
			case cloudtrail.IsDigestKey(child):
			case cloudtrail.IsLayoutFolder(name):
				sub, ok, err := s.regionPrefixes(ctx, bucket, child, depth+1)
				if err != nil || !ok {
					return nil, ok, err
				}
				out = append(out, sub...)
			default:
				return nil, false, nil
			}
		}
	}
	return out, true, nil
}

// walkPrefix lists one prefix in key order. Under a region folder keys sort by time, so the
// listing starts at the window's first day and stops at the first key past its end.
func (s *Source) walkPrefix(ctx context.Context, bucket, prefix string, w cloudtrail.Window, sk *Skipped, fn func(Object) error) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	_, _, _, ordered := cloudtrail.RegionPrefix(prefix)
	if ordered && !w.Since.IsZero() {
		// keys of earlier days sort before this; skip listing them at all
		in.StartAfter = aws.String(cloudtrail.DayPrefix(prefix, w.Since))
	}
	p := s3.NewListObjectsV2Paginator(s.client, in, func(po *s3.ListObjectsV2PaginatorOptions) {
		po.Limit = s.pageSize
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", cloudtrail.URL(bucket, prefix), err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if strings.HasSuffix(key, "/") {
				continue // folder marker
			}
			switch w.SkipKey(key) {
			case cloudtrail.SkipDigest:
				sk.Digest++
				continue
			case cloudtrail.SkipLate:
				sk.OutOfRange++
				if ordered {
					return nil // every later key is later still
				}
				continue
			case cloudtrail.SkipEarly:
				sk.OutOfRange++
				continue
			}
			if err := fn(Object{Bucket: bucket, Key: key, Size: aws.ToInt64(o.Size)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Open starts reading an object.
func (s *Source) Open(ctx context.Context, o Object) (io.ReadCloser, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(o.Key)})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", o.URL(), err)
	}
	if out.Body == nil {
		return nil, errors.New("get " + o.URL() + ": no body")
	}
	return out.Body, nil
}
