//go:build !race

package pattern

import (
	"fmt"
	"testing"
)

// The race detector makes sync.Pool drop entries at random, so allocation counts are
// only meaningful without it.

// TestNoAllocations: matching allocates nothing when nothing matches and only the result
// slice when something does, arrays and escapes included.
func TestNoAllocations(t *testing.T) {
	m := New()
	for i, p := range []string{
		`{"source":["aws.iam"],"detail":{"eventName":["CreateUser","DeleteUser"],"errorCode":[{"exists":false}]}}`,
		`{"detail":{"userIdentity":{"arn":[{"prefix":"arn:aws:iam::1:role/"}]},"eventName":[{"equals-ignore-case":"x"}]}}`,
		`{"detail":{"sourceIPAddress":[{"cidr":"10.0.0.0/8"}],"tags":{"k":["a"],"v":[{"anything-but":"b"}]}}}`,
		`{"detail":{"n":[{"numeric":[">",5]}],"eventName":[{"wildcard":"Cre*User"}]}}`,
	} {
		if err := m.Add(fmt.Sprint(i), p); err != nil {
			t.Fatal(err)
		}
	}
	miss := []byte(`{"source":"aws.s3","detail":{"eventName":"GetObject","userIdentity":{"arn":"arn:aws:iam::2:user/x","type":"IAMUser"},"sourceIPAddress":"192.0.2.1","tags":[{"k":"a","v":"b"},{"k":"c","v":"d"}],"n":3,"s":"esc\"aped\u00e9"}}`)
	hit := []byte(`{"source":"aws.iam","detail":{"eventName":"CreateUser","userIdentity":{"arn":"arn:aws:iam::2:user/x"},"sourceIPAddress":"10.1.2.3","tags":[{"k":"a","v":"z"}],"n":7}}`)
	for range 3 { // warm the pool
		m.Match(miss)
		m.Match(hit)
	}
	if ids, _ := m.Match(miss); len(ids) != 0 {
		t.Fatalf("miss event matched %q", ids)
	}
	if ids, _ := m.Match(hit); len(ids) != 3 {
		t.Fatalf("hit event matched %q, want 0, 2 and 3", ids)
	}
	if n := testing.AllocsPerRun(200, func() { m.Match(miss) }); n != 0 {
		t.Errorf("non-matching event: %v allocations per Match, want 0", n)
	}
	if n := testing.AllocsPerRun(200, func() { m.Match(hit) }); n > 1 {
		t.Errorf("matching event: %v allocations per Match, want 1 (the result)", n)
	}
}
