#!/usr/bin/env bash
# Times `trailbell scan` on a generated CloudTrail archive against zcat (reading the same files)
# and jq (only the seed filter), and with 10,000 extra rules that match nothing.
#
#   bench/scan.sh [RECORDS] [RUNS]      defaults: 200000 records, best of 3 runs
#   HOT=0.25 bench/scan.sh ...          an archive where a quarter of records alert (default 0.01)
#
# Needs zcat, jq and GNU time; jq and time are installed with `apt-get install -y jq time` when
# missing (Debian/Ubuntu, as root), which this script does itself. Output and inputs go to bench/out/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-200000}
runs=${2:-3}
hot=${HOT:-0.01}
out=bench/out
archive=$out/archive-$records
[ "$hot" = 0.01 ] || archive=$archive-hot$hot
mkdir -p "$out"

if ! command -v jq >/dev/null; then
	echo "installing jq (apt-get install -y jq)" >&2
	apt-get install -y jq >/dev/null
fi
if [ ! -x /usr/bin/time ]; then # GNU time reports CPU and max RSS
	echo "installing GNU time (apt-get install -y time)" >&2
	apt-get install -y time >/dev/null
fi

go build -o "$out/trailbell" ./cmd/trailbell
[ -d "$archive" ] || go run ./bench/gen -out "$archive" -records "$records" -hot "$hot"
[ -f "$out/rules-10000.yaml" ] || go run ./bench/gen -rules 10000 -out "$out/rules-10000.yaml"

# the log files scan reads (it skips the digests)
find -L "$archive" -name '*.json.gz' -not -path '*/CloudTrail-Digest/*' | sort >"$out/files.txt"
nfiles=$(wc -l <"$out/files.txt")
cat $(cat "$out/files.txt") >/dev/null # warm the page cache

# The seed filter: every eventName the built-in pack's EventBridge pre-filter lists.
"$out/trailbell" deploy pattern |
	jq -r '[.. | objects | .eventName? // empty | .[]? | strings] | unique | .[]' >"$out/seed-names.txt"
seed=$(jq -R . "$out/seed-names.txt" | jq -sc .)
# The rules with memory (thresholds, sequences, first seen) are part of the pack; one timed
# variant leaves them out, to show what they cost.
memrules=$("$out/trailbell" rules list --json | jq -r 'select(.kind) | .id')
nomemory=$(sed 's/^/--disable /' <<<"$memrules" | paste -sd' ' -) # list flags are repeated, one id each

# One timed run of a command: updates the best wall and best CPU (user+sys) seen for name.
declare -A wall cpu rss
timed() { # name command
	local name=$1
	shift
	# scan exits 1 when it finds something: that is not a failure here, but 2 (an error) is,
	# and a failed run must not be timed as a fast one
	local status=0
	/usr/bin/time -o "$out/time.txt" -f "%e %U %S %M" bash -c "$*" >/dev/null 2>"$out/stderr-$name.txt" || status=$?
	if [ "$status" -gt 1 ]; then
		echo "$name failed (exit $status); see $out/stderr-$name.txt" >&2
		exit 1
	fi
	local w u s m c
	read -r w u s m < <(tail -1 "$out/time.txt")
	c=$(awk "BEGIN{printf \"%.2f\", $u + $s}")
	if [ -z "${wall[$name]:-}" ] || awk "BEGIN{exit !($w < ${wall[$name]})}"; then wall[$name]=$w; fi
	if [ -z "${cpu[$name]:-}" ] || awk "BEGIN{exit !($c < ${cpu[$name]})}"; then cpu[$name]=$c; fi
	rss[$name]=$((m / 1024 > ${rss[$name]:-0} ? m / 1024 : ${rss[$name]:-0})) # the largest of the runs
}

echo "archive: $records records in $nfiles log files ($(du -shL "$archive" | cut -f1)), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "seed filter: $(wc -l <"$out/seed-names.txt") event names; best of $runs alternating runs (jq: 1 run)"
# Alternate the commands so that a shared machine's changing load hits them alike.
for _ in $(seq "$runs"); do
	timed zcat "xargs zcat < $out/files.txt"
	timed scan "$out/trailbell scan --format json $archive"
	timed scan_10k_rules "$out/trailbell scan --format json --rules $out/rules-10000.yaml $archive"
	timed scan_no_memory "$out/trailbell scan --format json $nomemory $archive"
done
# jq is ~30x slower: one run is enough to compare, and spares a shared machine
timed jq "xargs zcat < $out/files.txt | jq -c --argjson names '$seed' '.Records[] | select(.eventName as \$n | \$names | index(\$n))'"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

for name in zcat scan scan_no_memory jq scan_10k_rules; do
	printf "%-16s %7s s wall %7s s cpu (user+sys) %6s MB max RSS\n" "$name" "${wall[$name]}" "${cpu[$name]}" "${rss[$name]}"
done
echo "$(grep -c . <<<"$memrules") rules with memory; findings: $(grep '^findings' "$out/stderr-scan.txt")"
awk -v zw="${wall[zcat]}" -v sw="${wall[scan]}" -v jw="${wall[jq]}" -v rw="${wall[scan_10k_rules]}" -v mw="${wall[scan_no_memory]}" \
	-v zc="${cpu[zcat]}" -v sc="${cpu[scan]}" -v jc="${cpu[jq]}" -v rc="${cpu[scan_10k_rules]}" -v mc="${cpu[scan_no_memory]}" 'BEGIN {
	printf "scan / zcat:             wall %.2f  cpu %.2f  (target: wall <= 1; <= 1.5 with HOT=0.25)\n", sw / zw, sc / zc
	printf "rules with memory: scan / scan without them: wall %.2f  cpu %.2f\n", sw / mw, sc / mc
	printf "jq / scan:               wall %.1f   cpu %.1f   (target: several times)\n", jw / sw, jc / sc
	printf "10,000 extra rules / scan: wall %.2f  cpu %.2f  (target <= 1.5)\n", rw / sw, rc / sc
}'
