package pattern

// RefComparable exposes the test reference for event-ruler's ComparableNumber to the
// external tests (package pattern_test).
var RefComparable = refComparable
