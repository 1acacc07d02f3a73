#!/usr/bin/env bash
# Make sure the tools `make video` uses are installed, from Debian's packages:
#   ffmpeg     - assembles the slides and the narration into H.264 + AAC (dist/walkthrough.mp4)
#   espeak-ng  - speaks the narration (offline text-to-speech)
# A fast no-op when both are there. Chromium (pages and the terminal renderer) comes from
# scripts/ensure-chromium.sh.
#
# Usage: bash scripts/ensure-video-tools.sh        (as root, or with sudo available)
set -euo pipefail

missing=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

. "$(dirname "${BASH_SOURCE[0]}")/apt-lib.sh"
apt_prepare ensure-video-tools "${missing[*]}" "install ${missing[*]} (ffmpeg with libx264 and aac)"
echo "ensure-video-tools: installing the Debian packages ${missing[*]}..." >&2
start=$(date +%s)
apt_install "${missing[@]}"

for tool in ffmpeg ffprobe espeak-ng; do
    command -v "$tool" >/dev/null 2>&1 || { echo "ensure-video-tools: installed ${missing[*]} but $tool is not on PATH" >&2; exit 1; }
done
echo "ensure-video-tools: installed ${missing[*]} in $(( $(date +%s) - start ))s" >&2
