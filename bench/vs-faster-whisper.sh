#!/usr/bin/env bash
# callqa against faster-whisper on the same stereo calls, same Whisper base
# weights, same machine, in one run:
#   faster-whisper (float32, greedy, its VAD on, both channels, THREADS threads)
#     transcribes; model load is included in its time.
#   callqa score does everything on a cold cache: decode, transcribe both
#     parties, check, write the report; its whole process is timed.
# This machine's speed drifts by up to 2x within minutes, so the tools take
# turns over ROUNDS rounds (the order flips every round) and the ratio is given
# per round and over all rounds.
# Prints audio throughput of both and the ratios, peak memory, per-speaker WER
# against the sample scripts, and stage agreement with the card's outcomes on
# the exact scripts (samples/truth); recognition is deterministic, so WER and
# stages come from the first round.
#
# Usage: bench/vs-faster-whisper.sh [CALL...]     (default: every stereo sample call)
# Env:   THREADS (default: all cores), CARD (default checklists/inbound-sales-ru.yaml),
#        ROUNDS (default 2),
#        CALLQA_ARGS (extra `callqa score` arguments, e.g. "--jobs 1 --threads 2")
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS:-$(nproc)}
card=${CARD:-checklists/inbound-sales-ru.yaml}
rounds=${ROUNDS:-2}
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
run_fw() {
    timed "fw.$1" "$venv/bin/python" bench/fw_transcribe.py "$ct2" "$work/fw.$1" "$threads" "${calls[@]}" >"$work/fw.$1.json"
}
run_callqa() {
    # shellcheck disable=SC2086 # CALLQA_ARGS is a list of arguments
    timed "callqa.$1" target/release/callqa score "${calls[@]}" --card "$card" --cache-dir "$work/cache.$1" \
        --out "$work/callqa.$1" ${CALLQA_ARGS:-} >"$work/callqa.log" 2>&1 || { cat "$work/callqa.log"; exit 1; }
}

echo "${#calls[@]} stereo calls, $(nproc) cores, faster-whisper with $threads threads, $rounds rounds" >&2
for ((r = 1; r <= rounds; r++)); do
    if ((r % 2)); then run_fw "$r"; run_callqa "$r"; else run_callqa "$r"; run_fw "$r"; fi
done
mv "$work/fw.1" "$work/fw"
mv "$work/callqa.1" "$work/callqa"

python3 bench/stages.py truth "$work/truth" "${calls[@]}"
for who in truth fw; do
    target/release/callqa score --transcripts "$work/$who" --card "$card" --out "$work/$who-report" >/dev/null
done

python3 - "$work" "$rounds" <<'PY'
import json, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def timing(name):
    wall, kb = open(f"{work}/time.{name}").read().split()
    return float(wall), int(kb) / 1024
audio = json.load(open(f"{work}/fw.1.json"))["audio_s"]
print(f"{'round':>5} {'tool':16} {'audio_s':>8} {'wall_s':>8} {'x_real':>7} {'peak_MB':>8}")
ratios, walls = [], {"fw": 0.0, "callqa": 0.0}
for r in range(1, rounds + 1):
    # faster-whisper's own clock starts at model load, inside the process.
    fw_wall = json.load(open(f"{work}/fw.{r}.json"))["wall_s"]
    rows = [("fw", "faster-whisper", fw_wall, timing(f"fw.{r}")[1]),
            ("callqa", "callqa score", *timing(f"callqa.{r}"))]
    for key, name, wall, mb in rows:
        walls[key] += wall
        print(f"{r:5} {name:16} {audio:8.1f} {wall:8.2f} {audio / wall:7.1f} {mb:8.0f}")
    ratios.append(fw_wall / rows[1][2])
print("throughput ratio callqa / faster-whisper per round: " + " ".join(f"{x:.2f}" for x in ratios))
print(f"throughput ratio callqa / faster-whisper over all rounds: {walls['fw'] / walls['callqa']:.2f}")
PY
echo "--- WER, faster-whisper"
python3 bench/wer.py "$work"/fw/*.json | grep TOTAL
echo "--- WER, callqa"
python3 bench/wer.py "$work"/callqa/transcripts/*.json | grep TOTAL
python3 bench/stages.py compare "$work/truth-report/results.json" \
    "faster-whisper=$work/fw-report/results.json" "callqa=$work/callqa/results.json"
