#!/usr/bin/env bash
# Install everything viewerhub, its demo and its tests need on a fresh Debian/Ubuntu machine:
# Xvfb and the libraries Qt needs (napari), a Java runtime and ImageJ's ij.jar (Fiji adapter),
# then viewerhub itself with every extra. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
APT_PACKAGES=(
  xvfb xauth default-jre-headless libij-java imagemagick xdotool x11-utils
  libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
  libxcb-render-util0 libxcb-xinerama0 libxcb-xfixes0 libxcb-shape0 libxcb-cursor0
  libxcb-xkb1 libdbus-1-3 libegl1 libgl1 libgl1-mesa-dri libfontconfig1
)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
python3 -m pip install -q --disable-pip-version-check -e ".[dev]"
