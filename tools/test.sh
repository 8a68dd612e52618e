#!/usr/bin/env bash
# The README's test command: everything a fresh machine needs, then the whole suite.
#   bash tools/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

# The live-camera tests serve RTSP from GStreamer's server (Debian packages; it runs under the
# system python3, which has python3-gi). Installed when we are root and they are missing;
# otherwise those tests skip and say why.
APT_PACKAGES="python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=$(for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
  if [ -n "$missing" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
fi

# The synthetic licence-plate generator (tools/plate_synth.py) renders plates with real fonts:
# DejaVu and Liberation (Latin), Nanum (Hangul, Korean plates). Installed the same way; without
# them its tests skip and say which package is missing.
FONT_PACKAGES="fonts-dejavu-core fonts-liberation fonts-nanum"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=$(for p in $FONT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
  if [ -n "$missing" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
fi

# The monitoring tests run a real MQTT broker (mosquitto, started by the tests on loopback, never
# as a service) and a real browser (headless Chromium). Installed the same way; without them
# those tests skip and say which package is missing.
MONITOR_PACKAGES="mosquitto chromium"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=$(for p in $MONITOR_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
  if [ -n "$missing" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e ".[dev]"
exec .venv/bin/python -m pytest "$@"
