#!/usr/bin/env bash
# Recognition benchmark: real-time factor (audio seconds ÷ wall seconds), peak
# RSS and per-speaker WER for a stereo 8 kHz sample call, with speech regions
# (the default) and with whole channels (--no-regions), side by side in one
# run. Cold cache each time. Usage: bench/transcribe.sh [CALL.wav] [extra callqa args]
set -euo pipefail
cd "$(dirname "$0")/.."
call=${1:-samples/audio/in-79161234567-101-20241105-103000.wav}
shift || true
bin=target/release/callqa
[[ -x $bin ]] || cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
duration=$(python3 -c "import json,sys,pathlib; print(json.load(open('samples/truth/'+pathlib.Path(sys.argv[1]).stem+'.json'))['duration'])" "$call")
echo "call: $call (${duration} s), machine: $(nproc) cores, $(uname -m)"
printf '%-14s %8s %8s %10s\n' mode wall_s rtf peak_MB
for mode in regions whole; do
    flag=(); [[ $mode == whole ]] && flag=(--no-regions)
    /usr/bin/time -f '%e %M' -o "$work/time" \
        "$bin" transcribe "$call" --no-cache "${flag[@]}" "$@" --out "$work/$mode" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
    read -r wall rss <"$work/time"
    printf '%-14s %8.2f %8.1f %10.0f\n' "$mode" "$wall" "$(python3 -c "print($duration/$wall)")" "$(python3 -c "print($rss/1024)")"
done
for mode in regions whole; do
    echo "--- WER, $mode"
    python3 bench/wer.py "$(find "$work/$mode" -name '*.json')"
done
