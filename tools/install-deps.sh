#!/usr/bin/env bash
# Installs everything llamavid needs to build, test and run, from Debian 12's archive only.
# Runs as root or through sudo; safe to run again.
set -euo pipefail

packages=(
  build-essential meson ninja-build pkg-config cmake
  # clang with compiler-rt's sanitizer and libFuzzer runtimes (tools/sanitize.sh)
  clang libclang-rt-14-dev
  libtorch-dev libopenblas0-pthread
  libopencv-dev sentencepiece libicu-dev nlohmann-json3-dev libgtest-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-rtsp
  python3-torch python3-numpy python3-sentencepiece python3-gi python3-pil
  # MQTT client library for llamavid-monitor; the broker and clients for its tests
  libmosquitto-dev mosquitto mosquitto-clients
  gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gir1.2-gst-rtsp-server-1.0
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
