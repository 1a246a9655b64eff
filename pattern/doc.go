// Package pattern implements the AWS EventBridge event-pattern language: it parses and
// validates patterns, compiles many of them into one Matcher, and matches raw JSON events
// against all of them at once.
//
// A Matcher indexes the field paths that patterns name. Matching scans the event bytes,
// looks only at those paths, skips everything else without decoding it, and stops as
// soon as every named key has been seen and none can occur again. Each pattern is split
// into AND-only alternatives (through $or); of each alternative only one condition, its
// trigger (the one whose values the fewest other patterns share, preferring paths deep in
// the event to envelope fields like "source"), is indexed per field: hash maps for exact
// and case-folded values, per-length hash maps for prefixes, suffixes and the literal ends
// of wildcards, per-length maps of CIDR prefixes, lists for numeric ranges and
// anything-but. The other conditions are checked on the recorded values of their fields
// only when the trigger fires, so patterns that cannot match cost almost nothing, however
// many share a common value such as "source": ["aws.iam"]. Nothing is unmarshalled and,
// in the common case, only the result slice is allocated.
//
// # Semantics
//
// Supported: exact strings, numbers, true, false and null; the empty string; a list of
// values ORs, fields AND; an event array matches when any element matches; nested objects;
// prefix, suffix and their {"equals-ignore-case": ...} forms; equals-ignore-case; exactly;
// wildcard (with \* and \\ escapes; consecutive ** are rejected); anything-but with a
// string, a number, a list of strings or of numbers, or {"prefix"|"suffix"|
// "equals-ignore-case"|"wildcard": a string or a list}; numeric with =, <, <=, >, >= and a
// lower bound followed by an upper one; exists true and false; cidr for IPv4 and IPv6; and
// $or, nested too. "$or" is the operator when its value is an array whose first element is
// an object keyed by field names; otherwise (an object, or an array of values or operator
// objects) it is an ordinary field name, as in event-ruler.
//
// Where AWS's text is silent, the engine does what aws/event-ruler (the engine behind
// EventBridge, commit 337e8d99) does; edges_test.go names the event-ruler source of each:
//   - Numbers (number.go): a number is comparable when its value is that of the shortest
//     decimal of its float64 (0.1, 100.0, 1e2; not 0.10000000000000001, 9007199254740993,
//     1e400). Comparable numbers compare as that float64, -0 equal to 0; an exact pattern
//     number that is not comparable matches only the same text; numeric ranges and
//     anything-but numbers see comparable event numbers only, and reject pattern numbers
//     that are not. A number never equals a string: 300 does not match "300". (Comparability
//     follows a JDK whose Double.toString is shortest, 19 and later; JDK 17's differs for a
//     few doubles such as 5e-324.)
//   - equals-ignore-case (fold.go) takes the operand one UTF-16 unit at a time and accepts
//     Java's lower or upper case of each unit (Locale.ROOT, full mappings): "ß" matches "ß"
//     and "SS" but not "ss"; the event value is not case-mapped. The same holds inside
//     prefix, suffix and anything-but.
//   - IP addresses (ip.go): an exact string that is an IP literal compares as an address,
//     and so does any event string that is one ("2001:DB8::0001", "010.0.0.1" read as
//     decimal, "::ffff:a00:1" as IPv4; mixed notation "::ffff:10.0.0.1" is no literal).
//     cidr masks host bits and rejects /32 and /128: to match one address, write it.
//   - Field names: a pattern key with a dot is the nested path ({"a.b":[..]} is
//     {"a":{"b":[..]}}), a later member naming the same field replaces an earlier one, and
//     an event key containing a dot is never read.
//   - exists:true matches any leaf value (null included) but not an object or an empty
//     array; exists:false matches when there is no such leaf value.
//   - anything-but matches any present leaf value that is not excluded, of whatever JSON
//     type: {"anything-but": "x"} and {"anything-but": {"prefix": "x"}} both match null,
//     true and numbers; a number is excluded only by a number, a string only by a string.
//     It never matches a missing field.
//   - A pattern may expand through $or and exists:false into at most 4096 AND-only
//     alternatives; larger ones are rejected as too complex.
//   - Malformed pattern JSON is reported with its line and column.
//
// # Events
//
// An event must be a JSON object. Values that no pattern names are skipped by counting
// brackets. Every occurrence of a repeated key is a value of its field, as in
// event-ruler (the occurrences are alternatives like an array's elements, but not
// separated from each other: {"a":{"b":1,"c":2},"a":{"b":3,"c":4}} matches
// {"a":{"b":[1],"c":[4]}}). Reading stops early once the fields that can still change
// the answer (those of triggers, and those checked by patterns whose trigger fired) have
// been seen and the rest of the event cannot hold another value of them: no key on their
// paths occurs there as a quoted string, and no escape that could spell one; so an error
// is returned only for JSON that is invalid in the part that was read: garbage after that
// point, or inside a skipped value (other than broken strings and unbalanced brackets),
// goes unreported. Arrays nested more than 1000 deep on a named path are an error.
//
// # Ids
//
// Adding a pattern under an id that already has one keeps both: the id matches when any
// of its patterns matches (as in quamina). Remove deletes every pattern of an id.
//
// Compile checks a pattern once and returns it compiled; AddPattern adds it to a Matcher
// without parsing it again, and one compiled Pattern may serve many Matchers.
//
// # Concurrency
//
// Match may be called from many goroutines. Add, AddPattern and Remove may run
// concurrently with Match: they change a list of compiled patterns under a mutex, and the
// next Match builds and publishes a new immutable snapshot through an atomic pointer, so
// matches never see a half-built state. Building is lazy, once after any number of Adds: adding 10,000
// patterns and then matching costs one build, but alternating Add and Match rebuilds
// every time (a full build of 10,000 patterns takes about 0.1 s of CPU).
package pattern
