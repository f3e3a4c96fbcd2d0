#!/usr/bin/env bash
# Renders a report's index, one call page and the golden fund to PNG with
# headless chromium (Debian's `chromium` package, installed if missing), and
# checks each page's DOM for the elements it must have.
#
#   scripts/screenshots.sh [REPORT_DIR] [OUT_DIR]
#
# REPORT_DIR  a folder written by `callqa score --out`; when absent, the sample
#             calls are scored into target/screenshots/report first (needs the
#             model: `bash models/fetch-model.sh`; transcripts are cached).
# OUT_DIR     where the PNGs go (default docs/img): report-index.png,
#             report-call.png, report-golden.png.
#
# Environment: CALLQA_BIN (default target/release/callqa, built if missing),
# CALLQA_MODEL (default models/ggml-base.bin), CALL (the call whose page is
# shown; default the sample with an unanswered objection), WIDTH, HEIGHT.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'screenshots: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

report=${1:-}
out=${2:-docs/img}
call=${CALL:-in-79263332211-104-20241106-094505.mp3}
width=${WIDTH:-1280}
height=${HEIGHT:-1600}
chromium=/usr/bin/chromium

if [[ ! -x $chromium ]]; then
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    say "installing chromium"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

if [[ -z $report ]]; then
    bin=${CALLQA_BIN:-target/release/callqa}
    if [[ ! -x $bin ]]; then
        say "building callqa (release)"
        cargo build --release --locked --quiet
    fi
    report=target/screenshots/report
    say "scoring samples/audio into $report"
    status=0
    "$bin" score samples/audio --card checklists/inbound-sales-ru.yaml --out "$report" >/dev/null || status=$?
    # 3 = some inputs failed but the report is written; anything else is an error.
    [[ $status -eq 0 || $status -eq 3 ]] || die "callqa score failed (exit $status)"
fi
[[ -f $report/index.html ]] || die "$report/index.html not found: give a report folder written by callqa score"

# The call's page: the one whose heading is the call's file name (escaped
# like all text, but recorder names have no characters that change).
page=$(grep -l "id=\"call-name\">\([^<]*;\)\?${call//./\\.}</h1>" "$report"/calls/call-*.html | head -1 || true)
if [[ -z $page ]]; then
    page=$(ls "$report"/calls/call-*.html | head -1)
    say "$call is not in the report; showing $(basename "$page")"
fi
page=calls/$(basename "$page")

mkdir -p "$out"
abs_report=$(cd "$report" && pwd)
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT

# render PAGE PNG NEEDLE… — one chromium run: screenshot and DOM; every NEEDLE must be in the DOM.
render() {
    local page=$1 png=$2
    shift 2
    local dom
    dom=$("$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars \
        --user-data-dir="$profile" --window-size="$width,$height" --screenshot="$png" --dump-dom \
        "file://$abs_report/$page" 2>/dev/null) || die "chromium failed on $page"
    [[ -s $png ]] || die "no screenshot of $page"
    local needle
    for needle in "$@"; do
        grep -qF -- "$needle" <<<"$dom" || die "$page: the rendered page has no $needle"
    done
    if grep -q '<script>alert' <<<"$dom"; then die "$page: an injected script element"; fi
    say "$page → $png"
}

render index.html "$out/report-index.png" 'data-ready="index"' 'id="distribution"' 'id="stage-rates"' \
    'id="buckets-table"' 'id="top-errors"' 'id="calls"' 'class="band"'
render "$page" "$out/report-call.png" 'data-ready="call"' 'id="timeline"' 'id="checklist"' \
    'id="metrics-table"' 'id="transcript"' 'class="turn '
render golden.html "$out/report-golden.png" 'Golden fund' 'class="panel gold-bucket"'
