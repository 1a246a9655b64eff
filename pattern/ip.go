package pattern

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// IP addresses as event-ruler reads them (CIDR.java and Constants.java at 337e8d99, with
// java.net.InetAddress underneath): a string is an address literal only when it is four
// dot-separated runs of ASCII digits (IPv4_REGEX) or hex digits and colons with at least
// one colon (IPv6_REGEX). IPv4 parts are decimal whatever their leading zeros
// ("010.0.0.1" is 10.0.0.1, as InetAddress reads it), each at most 255, the literal at
// most 15 characters. IPv6 in mixed notation ("::ffff:10.1.2.3") is not a literal there;
// an IPv4-mapped address in hex ("::ffff:a01:203") is its IPv4 address, as InetAddress
// converts it.

// ipLiteral parses s as event-ruler recognises an IP address literal.
func ipLiteral(s string) (netip.Addr, bool) {
	if len(s) < 2 || len(s) > 45 {
		return netip.Addr{}, false
	}
	dots, colons := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			dots++
		case c == ':':
			colons++
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return netip.Addr{}, false
		}
	}
	switch {
	case colons == 0 && dots == 3:
		return ipv4Decimal(s)
	case colons > 0 && dots == 0:
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Addr{}, false
		}
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}

// ipv4Decimal reads a dotted quad of decimal parts, as InetAddress does.
func ipv4Decimal(s string) (netip.Addr, bool) {
	if len(s) > 15 {
		return netip.Addr{}, false
	}
	var b [4]byte
	part, n, v := 0, 0, 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if n == 0 || v > 255 {
				return netip.Addr{}, false
			}
			b[part] = byte(v)
			part, n, v = part+1, 0, 0
			continue
		}
		c := s[i]
		if c < '0' || c > '9' {
			return netip.Addr{}, false
		}
		v = v*10 + int(c-'0')
		n++
	}
	return netip.AddrFrom4(b), part == 4
}

// parseCIDR reads a cidr operand as CIDR.cidr does: an address literal, one '/', and a
// mask of at most 31 bits for IPv4 and 127 for IPv6 (event-ruler rejects /32 and /128);
// host bits set in the address are masked off.
func parseCIDR(s string) (netip.Prefix, error) {
	parts := strings.Split(s, "/")
	for len(parts) > 1 && parts[len(parts)-1] == "" { // Java's split drops trailing empty parts
		parts = parts[:len(parts)-1]
	}
	if len(parts) != 2 {
		return netip.Prefix{}, errors.New("malformed CIDR: one '/' required")
	}
	bits, err := strconv.Atoi(parts[1])
	if err != nil {
		return netip.Prefix{}, errors.New("malformed CIDR: mask bits must be an integer")
	}
	if bits < 0 {
		return netip.Prefix{}, errors.New("malformed CIDR: mask bits must not be negative")
	}
	a, ok := ipLiteral(parts[0])
	if !ok {
		return netip.Prefix{}, errors.New("invalid IP address " + strconv.Quote(parts[0]))
	}
	switch {
	case a.Is4() && bits > 31:
		return netip.Prefix{}, errors.New("IPv4 mask bits must be < 32 (event-ruler rejects /32: match one address with the address itself)")
	case a.Is6() && bits > 127:
		return netip.Prefix{}, errors.New("IPv6 mask bits must be < 128 (event-ruler rejects /128: match one address with the address itself)")
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{}, err
	}
	return p, nil
}
