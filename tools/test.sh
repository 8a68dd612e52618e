#!/usr/bin/env bash
# The README's test command: everything a fresh machine needs, ruff, then the whole suite, with
# mypy before it; with pytest args (a tier, a file), ruff and those tests only.
#   bash tools/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use, installed when we are root and they are missing; otherwise the
# tests that need them skip and say which package to install.
#  - GStreamer's RTSP server: the live-camera tests serve RTSP from it (it runs under the system
#    python3, which has python3-gi).
#  - DejaVu, Liberation, Nanum fonts: tools/data/plate_synth.py renders plates with real fonts.
#  - mosquitto: a real MQTT broker, started by the tests on loopback, never as a service.
#  - chromium: headless, opens the web view and `vpipe verify`'s HTML report.
APT_PACKAGES="python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad fonts-dejavu-core fonts-liberation fonts-nanum
  mosquitto chromium"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=$(for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
  if [ -n "$missing" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e ".[dev]"
.venv/bin/ruff check .
if [ $# -eq 0 ]; then
  # mypy finds modules by path: it is shown the installed layout, vpipe/pipeline -> pipeline/ ...
  tree=.venv/mypy-src
  mkdir -p "$tree/vpipe"
  for package in pipeline engines stages; do ln -sfn "$PWD/$package" "$tree/vpipe/$package"; done
  (cd "$tree" && MYPYPATH="$PWD" ../bin/mypy --config-file ../../pyproject.toml --cache-dir ../mypy-cache \
    -p vpipe.pipeline -p vpipe.engines -p vpipe.stages)
fi
# Two workers (pytest-xdist), a file each at a time: most of the suite waits on subprocesses,
# servers and video files, so two share CI's two cores well; a file's tests keep their order and
# their module fixtures. `-p no:xdist` turns it off.
exec .venv/bin/python -m pytest -n 2 --dist loadfile "$@"
