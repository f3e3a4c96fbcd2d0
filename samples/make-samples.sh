#!/usr/bin/env bash
# Regenerate the sample calls: samples/audio/*, samples/truth/*.json
# from samples/dialogs/*.yaml.  Deterministic; safe to re-run.
#
# Needs (Debian/Ubuntu): apt-get install festival festvox-ru sox libsox-fmt-mp3 lame
# Per-turn TTS clips are cached in ${CALLQA_TTS_CACHE:-/tmp/callqa-tts-cache}.
# Extra arguments go to make_samples.py (e.g. --only good-inbound-sales).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

missing=()
for cmd in text2wave sox soxi lame python3; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "make-samples: missing ${missing[*]}" >&2
    echo "  install: apt-get install festival festvox-ru sox libsox-fmt-mp3 lame python3" >&2
    exit 1
fi
voice_check="$(echo '(voice_msu_ru_nsh_clunits)' | festival --pipe 2>&1 || true)"
if grep -qiE 'unbound|error' <<<"$voice_check"; then
    echo "make-samples: festival voice msu_ru_nsh_clunits not found (apt-get install festvox-ru)" >&2
    exit 1
fi
if ! sox -h 2>/dev/null | grep -qw mp3; then
    echo "make-samples: sox lacks MP3 support (apt-get install libsox-fmt-mp3)" >&2
    exit 1
fi

python3 "$here/make_samples.py" "$@"

echo
echo "samples/ total: $(du -sh "$here" | cut -f1)"
