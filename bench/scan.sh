#!/usr/bin/env bash
# Times `trailbell scan` on a generated CloudTrail archive against zcat (reading the same files)
# and jq (only the seed filter), and with 10,000 extra rules that match nothing.
#
#   bench/scan.sh [RECORDS] [RUNS]      defaults: 200000 records, best of 3 runs
#
# Needs zcat and jq. jq is installed with `apt-get install -y jq` when missing (Debian/Ubuntu,
# as root), which this script does itself. Output and inputs go to bench/out/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-200000}
runs=${2:-3}
out=bench/out
archive=$out/archive-$records
mkdir -p "$out"

if ! command -v jq >/dev/null; then
	echo "installing jq (apt-get install -y jq)" >&2
	apt-get install -y jq >/dev/null
fi

go build -o "$out/trailbell" ./cmd/trailbell
[ -d "$archive" ] || go run ./bench/gen -out "$archive" -records "$records"
[ -f "$out/rules-10000.yaml" ] || go run ./bench/gen -rules 10000 -out "$out/rules-10000.yaml"

# the log files scan reads (it skips the digests)
find "$archive" -name '*.json.gz' -not -path '*/CloudTrail-Digest/*' | sort >"$out/files.txt"
nfiles=$(wc -l <"$out/files.txt")
cat $(cat "$out/files.txt") >/dev/null # warm the page cache

# The seed filter: every eventName the built-in pack's EventBridge pre-filter lists.
"$out/trailbell" deploy pattern |
	jq -r '[.. | objects | .eventName? // empty | .[]? | strings] | unique | .[]' >"$out/seed-names.txt"
seed=$(jq -R . "$out/seed-names.txt" | jq -sc .)

# best wall time (s) of n runs, and the CPU time (user+sys) of that run
measure() { # name runs command...
	local name=$1 n=$2 best="" cpu="" rss=""
	shift 2
	for _ in $(seq "$n"); do
		# scan exits 1 when it finds something: that is not a failure here
		/usr/bin/time -o "$out/time.txt" -f "%e %U %S %M" bash -c "$*" >/dev/null 2>"$out/stderr-$name.txt" || true
		local wall user sys maxrss
		read -r wall user sys maxrss < <(tail -1 "$out/time.txt")
		if [ -z "$best" ] || awk "BEGIN{exit !($wall < $best)}"; then
			best=$wall
			cpu=$(awk "BEGIN{printf \"%.2f\", $user + $sys}")
			rss=$((maxrss / 1024))
		fi
	done
	printf "%-22s %7s s wall %7s s cpu %6s MB max RSS\n" "$name" "$best" "$cpu" "$rss"
	eval "wall_$name=$best"
}

echo "archive: $records records in $nfiles log files ($(du -sh "$archive" | cut -f1)), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "seed filter: $(wc -l <"$out/seed-names.txt") event names"
measure zcat "$runs" "xargs zcat < $out/files.txt"
measure scan "$runs" "$out/trailbell scan --format json $archive"
# jq is ~30x slower: one run is enough to compare, and spares a shared machine
measure jq 1 "xargs zcat < $out/files.txt | jq -c --argjson names '$seed' '.Records[] | select(.eventName as \$n | \$names | index(\$n))'"
measure scan_10k_rules "$runs" "$out/trailbell scan --format json --rules $out/rules-10000.yaml $archive"

awk -v z="$wall_zcat" -v s="$wall_scan" -v j="$wall_jq" -v r="$wall_scan_10k_rules" 'BEGIN {
	printf "scan / zcat = %.2f (target <= 1)\njq / scan = %.1f (target: several times)\nscan with 10,000 extra rules / scan = %.2f (target <= 1.5)\n", s / z, j / s, r / s
}'
