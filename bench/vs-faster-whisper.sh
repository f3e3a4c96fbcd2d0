#!/usr/bin/env bash
# callqa against faster-whisper on the same stereo calls, same Whisper base
# weights, same machine, in one run:
#   faster-whisper (float32, greedy, its VAD on, both channels, THREADS threads)
#     transcribes; model load is included in its time.
#   callqa score does everything on a cold cache: decode, transcribe both
#     parties, check, write the report; its whole process is timed.
# Prints audio throughput of both and the ratio, peak memory, per-speaker WER
# against the sample scripts, and stage agreement with the card's outcomes on
# the exact scripts (samples/truth).
#
# Usage: bench/vs-faster-whisper.sh [CALL...]     (default: every stereo sample call)
# Env:   THREADS (default: all cores), CARD (default checklists/inbound-sales-ru.yaml),
#        CALLQA_ARGS (extra `callqa score` arguments, e.g. "--jobs 1 --threads 2")
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS:-$(nproc)}
card=${CARD:-checklists/inbound-sales-ru.yaml}
cache=${CALLQA_CACHE_DIR:-$HOME/.cache/callqa}
venv=$cache/bench-venv
ct2=$cache/models/ct2-base

if (($#)); then
    calls=("$@")
else
    mapfile -t calls < <(python3 -c '
import json, pathlib
for a in sorted(pathlib.Path("samples/audio").iterdir()):
    if json.load(open(f"samples/truth/{a.stem}.json"))["channels"] == 2: print(a)')
fi

[[ -x target/release/callqa ]] || cargo build --release --quiet
bash models/fetch-model.sh
bash models/fetch-model.sh --ct2 "$ct2"
if ! "$venv/bin/python" -c 'import faster_whisper' 2>/dev/null; then
    echo "installing faster-whisper into $venv" >&2
    python3 -m venv "$venv" || { echo "python3 -m venv failed: apt-get install python3-venv" >&2; exit 1; }
    "$venv/bin/pip" install --quiet faster-whisper==1.2.1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
timed() { /usr/bin/time -f '%e %M' -o "$work/time.$1" "${@:2}"; }

echo "${#calls[@]} stereo calls, $(nproc) cores, faster-whisper with $threads threads" >&2
timed fw "$venv/bin/python" bench/fw_transcribe.py "$ct2" "$work/fw" "$threads" "${calls[@]}" >"$work/fw.json"
# shellcheck disable=SC2086 # CALLQA_ARGS is a list of arguments
timed callqa target/release/callqa score "${calls[@]}" --card "$card" --cache-dir "$work/cache" \
    --out "$work/callqa" ${CALLQA_ARGS:-} >"$work/callqa.log" 2>&1 || { cat "$work/callqa.log"; exit 1; }

python3 bench/stages.py truth "$work/truth" "${calls[@]}"
for who in truth fw; do
    target/release/callqa score --transcripts "$work/$who" --card "$card" --out "$work/$who-report" >/dev/null
done

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
fw = json.load(open(f"{work}/fw.json"))
audio = fw["audio_s"]
def peak(tool):
    return int(open(f"{work}/time.{tool}").read().split()[1]) / 1024
callqa_wall = float(open(f"{work}/time.callqa").read().split()[0])
rows = [("faster-whisper", fw["wall_s"], peak("fw")), ("callqa score", callqa_wall, peak("callqa"))]
print(f"{'tool':16} {'audio_s':>8} {'wall_s':>8} {'x_real':>7} {'peak_MB':>8}")
for name, wall, mb in rows:
    print(f"{name:16} {audio:8.1f} {wall:8.2f} {audio / wall:7.1f} {mb:8.0f}")
print(f"throughput ratio callqa / faster-whisper: {fw['wall_s'] / callqa_wall:.2f}")
PY
echo "--- WER, faster-whisper"
python3 bench/wer.py "$work"/fw/*.json | grep TOTAL
echo "--- WER, callqa"
python3 bench/wer.py "$work"/callqa/transcripts/*.json | grep TOTAL
python3 bench/stages.py compare "$work/truth-report/results.json" \
    "faster-whisper=$work/fw-report/results.json" "callqa=$work/callqa/results.json"
