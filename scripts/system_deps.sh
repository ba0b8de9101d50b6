#!/usr/bin/env bash
# Install the system tools the pipeline needs (ffmpeg, espeak-ng, fonts, Tesseract) when they are missing;
# with --test also what only the tests need (Debian's chromium for the studio's browser tests).
set -euo pipefail
need=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || need+=(ffmpeg)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
fc-list 2>/dev/null | grep -qi "DejaVu Sans" || need+=(fonts-dejavu-core)
fc-list 2>/dev/null | grep -qiE "WenQuanYi|Noto Sans CJK" || need+=(fonts-wqy-microhei)
# on-screen text (issue #9): the tesserocr wheel bundles libtesseract but not the English model
command -v tesseract >/dev/null || need+=(tesseract-ocr)
ls /usr/share/tesseract-ocr/*/tessdata/eng.traineddata >/dev/null 2>&1 || need+=(tesseract-ocr-eng)
if [ "${1:-}" = "--test" ]; then
  command -v chromium >/dev/null || need+=(chromium)
fi
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing system packages: ${need[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "error: missing ${need[*]} and not root; install them with your package manager (e.g. apt-get install ${need[*]})" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null; then
  echo "error: missing ${need[*]}; this machine has no apt-get, install them with your package manager" >&2
  exit 1
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
