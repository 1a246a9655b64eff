#!/usr/bin/env bash
# Runs every fuzz test of the module in turn, each for FUZZTIME (default 30s), on one worker
# unless FUZZ_PARALLEL says otherwise. What a fuzzer finds is written to its package's
# testdata/fuzz/FuzzName/ and fails the run; the seed corpora kept there run with every
# `go test`.
#
#   scripts/fuzz.sh                  every fuzzer, 30 s each
#   FUZZTIME=2m scripts/fuzz.sh ./pattern/...
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-30s}
parallel=${FUZZ_PARALLEL:-1}
pkgs=("${@:-./...}")
status=0
for pkg in $(go list "${pkgs[@]}"); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for name in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		echo "== $pkg $name ($fuzztime)"
		go test -run XXX -fuzz "^$name\$" -fuzztime "$fuzztime" -parallel "$parallel" "$pkg" || status=1
	done
done
exit $status
