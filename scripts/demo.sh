#!/usr/bin/env bash
# One command from a fresh clone to a report: set up, then score the bundled
# sample calls against the inbound-sales card.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
status=0
target/release/callqa score samples/audio --card checklists/inbound-sales-ru.yaml --out report || status=$?
echo
echo "Open the report: file://$PWD/report/index.html"
exit "$status"
