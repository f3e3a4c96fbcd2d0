#!/usr/bin/env bash
# Peak memory of `callqa score` against the number of calls in the batch.
# The 64 labelled transcripts (tests/labelled/calls) are copied N times into
# one batch and scored with the full report (every call page, transcript copy,
# results.json/csv, index, golden fund), N = 1, 10 and 50 (64 to 3,200 calls),
# in one run. Prints peak RSS per size and what each extra call adds.
# Recognition is left out (it holds one call's audio per worker and nothing per
# finished call; see transcribe.sh): this measures what a batch keeps per call.
#
# Usage: bench/memory.sh [BINARY]   (default target/release/callqa; pass an
#        older build to compare versions side by side)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/callqa}
[[ -x $bin ]] || cargo build --release --quiet
card=checklists/inbound-sales-ru.yaml
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%8s %10s %10s\n' calls peak_MB wall_s
first=
for n in 1 10 50; do
    for i in $(seq 1 "$n"); do
        mkdir -p "$work/in$n/copy$i"
        cp tests/labelled/calls/*.json "$work/in$n/copy$i/"
    done
    calls=$((n * $(ls tests/labelled/calls/*.json | wc -l)))
    /usr/bin/time -f '%M %e' -o "$work/time" \
        "$bin" score --transcripts "$work/in$n" --card "$card" --out "$work/out$n" >/dev/null
    read -r kb wall <"$work/time"
    printf '%8d %10.1f %10.2f\n' "$calls" "$(python3 -c "print($kb/1024)")" "$wall"
    if [[ -z $first ]]; then
        first="$calls $kb"
    else
        read -r c0 kb0 <<<"$first"
        echo "         each call beyond the first $c0 adds $(python3 -c "print(round(($kb-$kb0)/($calls-$c0), 1))") KB"
    fi
    rm -rf "$work/out$n" "$work/in$n"
done
