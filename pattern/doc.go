// Package pattern implements the AWS EventBridge event-pattern language: it parses and
// validates patterns, compiles many of them into one Matcher, and matches raw JSON events
// against all of them at once.
//
// A Matcher indexes the field paths that patterns name. Matching scans the event bytes,
// looks only at those paths, skips everything else without decoding it, and stops as
// soon as every key it needs has been seen. Each pattern is split into AND-only
// alternatives (through $or); of each alternative only one condition, its trigger (the
// one whose values the fewest other patterns share, preferring paths deep in the event to
// envelope fields like "source"), is indexed per field: hash maps for exact and
// equals-ignore-case values, per-length hash maps for prefixes, suffixes and the literal
// ends of wildcards, per-length maps of CIDR prefixes, lists for numeric ranges and
// anything-but. The other conditions are checked on the recorded values of their fields
// only when the trigger fires, so patterns that cannot match cost almost nothing, however
// many share a common value such as "source": ["aws.iam"]. The first scan of an event
// stops once every trigger path has been seen, but reads on in an object when a trigger
// that has fired needs one of its fields not seen yet; only when a trigger that fires
// later needs a field the scan skipped is the event scanned again in full. Nothing is
// unmarshalled and, in the common case, only the result slice is allocated.
//
// # Semantics
//
// Supported: exact strings, numbers, true, false and null; the empty string; a list of
// values ORs, fields AND; an event array matches when any element matches; nested objects;
// prefix, suffix and their {"equals-ignore-case": ...} forms; equals-ignore-case; wildcard
// (with \* and \\ escapes; consecutive ** are rejected); anything-but with a string, a
// number, a list of strings or of numbers, or {"prefix"|"suffix"|"equals-ignore-case"|
// "wildcard": ...}; numeric with =, <, <=, >, >= and one lower plus one upper bound; exists
// true and false; cidr for IPv4 and IPv6; and $or, nested too. "$or" is the operator when
// its value is an array whose first element is an object keyed by field names; otherwise
// (an object, or an array of values or operator objects) it is an ordinary field name, as
// in event-ruler.
//
// Two fields matched inside an array of objects must come from the same array element, as
// event-ruler requires: {"a":[{"b":1,"c":2},{"b":3,"c":4}]} does not match
// {"a":{"b":[1],"c":[4]}}. An exists:false field must have no value in the element the
// other matched fields came from. Deciding this is indexed by array element, so events
// with tens of thousands of elements are fast; a step budget still bounds pathological
// cases, and Match then returns ErrTooComplex rather than guess.
//
// Choices where AWS's text is silent or engines differ:
//   - Numbers compare by value as float64 (exact matches too): 300, 300.0 and 3.0e2 are
//     equal, and precision beyond float64's 15-17 significant digits is lost. Any finite
//     float64 is accepted in patterns; event numbers too large for float64 compare as ±Inf,
//     too small ones as 0.
//     A number never equals a string: the pattern 300 does not match the event "300".
//   - exists:true matches any leaf value (null included) but not an object or an empty
//     array; exists:false matches when there is no such leaf value.
//   - anything-but matches any present leaf value that is not excluded, of whatever JSON
//     type: {"anything-but": "x"} and {"anything-but": {"prefix": "x"}} both match null,
//     true and numbers (event-ruler's verdicts); a number is excluded only by a number of
//     equal value, a string only by a string. It never matches a missing field.
//   - equals-ignore-case folds case per Unicode letter (lower of upper), not only ASCII.
//   - cidr accepts prefixes with host bits set (they are masked); /32 and /128 match one
//     address; IPv4-mapped IPv6 event addresses match IPv4 ranges.
//   - A pattern may expand through $or and exists:false into at most 4096 AND-only
//     alternatives; larger ones are rejected as too complex.
//   - In a pattern, a repeated key keeps its last value (encoding/json's behaviour).
//
// # Events
//
// An event must be a JSON object. Reading stops as soon as every key that is needed has
// been seen (see above), and values that no pattern names are skipped by counting
// brackets. So an error is returned only for JSON that is invalid in the part that
// was read: garbage after the last interesting key, or inside a skipped value (other than
// broken strings and unbalanced brackets), goes unreported. In an event object a repeated
// key is read once: the first occurrence wins. Arrays nested more than 1000 deep on a
// named path are an error.
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
