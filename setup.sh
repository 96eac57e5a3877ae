#!/usr/bin/env bash
# Install everything viewerhub, its demo and its tests need on a fresh Debian/Ubuntu machine:
# Xvfb and the libraries Qt needs (napari), a Java runtime and ImageJ's ij.jar (Fiji adapter),
# then viewerhub itself with every extra. Safe to run again.
#
# Where viewerhub goes (so that `.venv/bin/hub` and `.venv/bin/python` always work):
#   - inside an active venv or conda env: into that env; .venv becomes a link to it;
#   - with a PEP 668 "externally managed" python3 (stock Debian 12, Ubuntu 24.04): into a new
#     project venv .venv (pip refuses to touch the system Python, and rightly so);
#   - with any other python3 (pyenv, a self-built one, CI): into a project venv .venv that
#     also sees python3's own packages, so what is already installed is not downloaded again.
# PYTHON=/path/to/python3 bash setup.sh picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
VENV=.venv
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
APT_PACKAGES=(
  xvfb xauth default-jre-headless libij-java imagemagick xdotool x11-utils
  libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
  libxcb-render-util0 libxcb-xinerama0 libxcb-xfixes0 libxcb-shape0 libxcb-cursor0
  libxcb-xkb1 libdbus-1-3 libegl1 libgl1 libgl1-mesa-dri libfontconfig1
)

active_env=""
if [ -n "${VIRTUAL_ENV:-}" ]; then
  active_env="$VIRTUAL_ENV"
elif [ -n "${CONDA_PREFIX:-}" ] && [ "${CONDA_DEFAULT_ENV:-base}" != base ]; then
  active_env="$CONDA_PREFIX"
fi
# A venv needs ensurepip, which Debian and Ubuntu ship separately (python3-venv).
if [ -z "$active_env" ] && [ ! -x "$VENV/bin/python" ] \
  && ! "$PY" -c "import ensurepip, venv" 2>/dev/null; then
  APT_PACKAGES+=(python3-venv)
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ -n "$active_env" ]; then
  target="$active_env/bin/python"
  [ -x "$target" ] || target="$PY"
  if [ -L "$VENV" ] || [ ! -e "$VENV" ]; then
    ln -sfn "$active_env" "$VENV"
  else
    echo "setup.sh: $VENV is a project venv; installing into the active env $active_env too" >&2
  fi
else
  if [ ! -x "$VENV/bin/python" ]; then
    [ -L "$VENV" ] && rm "$VENV"  # a link to an env that is no longer active
    managed=$("$PY" -c 'import os, sysconfig
print(os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))')
    if [ "$managed" = True ]; then
      "$PY" -m venv "$VENV"
    else
      "$PY" -m venv --system-site-packages "$VENV"
    fi
  fi
  target="$VENV/bin/python"
fi
"$target" -m pip install -q --disable-pip-version-check -e ".[dev]"
echo "viewerhub is installed in $("$target" -c 'import sys; print(sys.prefix)'):" \
  ".venv/bin/hub and .venv/bin/python run it ('source .venv/bin/activate' puts hub on PATH)"
