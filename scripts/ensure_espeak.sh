#!/usr/bin/env bash
# Installs espeak-ng (the synthesizer behind the smart-home corpus) when it is missing.
set -euo pipefail
command -v espeak-ng >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "catt: installing espeak-ng with apt-get" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null
else
  echo "catt: espeak-ng is missing; install it (Debian/Ubuntu: sudo apt-get install espeak-ng," \
    "macOS: brew install espeak-ng) and run again" >&2
  exit 1
fi
