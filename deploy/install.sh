#!/usr/bin/env bash
# Install edge as a systemd service on Raspberry Pi OS (64-bit). Idempotent: run it again to
# upgrade; your /etc/edge/edge.toml is never overwritten.
#
#   sudo deploy/install.sh [--model FILE.onnx|DIR] [--litert] [--no-start] [--dry-run]
#   sudo deploy/install.sh --uninstall [--purge]     # --purge also deletes config and data
#
# What it does: apt packages (python3-picamera2 comes only from apt), a venv in /opt/edge with
# --system-site-packages (so it sees picamera2), this package (--litert: with the LiteRT engine),
# the config, the model (a file, or the folder edge-convert wrote: then edge-run picks the
# build), the systemd units; then enables and starts edge-run.service.
# For tests: EDGE_ROOT prefixes every path, EDGE_APT_GET and EDGE_SYSTEMCTL replace the tools,
# EDGE_PIP_ARGS adds pip options, EDGE_ARCH stands in for `uname -m`.
set -euo pipefail

ROOT=${EDGE_ROOT:-}
APT_GET=${EDGE_APT_GET:-apt-get}
SYSTEMCTL=${EDGE_SYSTEMCTL:-systemctl}
PYTHON=${EDGE_PYTHON:-python3}
read -r -a PIP_ARGS <<< "${EDGE_PIP_ARGS:-}"
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=$ROOT/opt/edge
VENV=$PREFIX/venv
CONF_DIR=$ROOT/etc/edge
UNIT_DIR=$ROOT/etc/systemd/system
DATA_DIRS=("$ROOT/var/lib/edge" "$ROOT/var/lib/private/edge" "$ROOT/var/log/edge"
           "$ROOT/var/log/private/edge")
APT_PACKAGES=(python3-venv python3-pip python3-picamera2 v4l-utils)

DRY_RUN=0 UNINSTALL=0 PURGE=0 START=1 MODEL="" EXTRAS=""
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --uninstall) UNINSTALL=1 ;;
        --purge) PURGE=1 ;;
        --no-start) START=0 ;;
        --model) MODEL=${2:?--model needs a file or folder}; shift ;;
        --litert) EXTRAS="[litert]" ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

step() {  # print every step; run it unless --dry-run
    echo "+ $*"
    if [ "$DRY_RUN" = 0 ]; then "$@"; fi
}

instance_unit() {  # the per-camera template, made from the same unit (systemd/edge-run@.sed)
    sed -f "$SRC/systemd/edge-run@.sed" "$SRC/systemd/edge-run.service" > "$1.tmp"
    chmod 0644 "$1.tmp"
    mv "$1.tmp" "$1"
}

check_platform() {
    local arch
    arch=${EDGE_ARCH:-$(uname -m)}
    case "$arch" in
        aarch64|x86_64) ;;
        armv7l|armv6l)
            echo "install.sh: this is a 32-bit OS ($arch). PyPI has no 32-bit ARM wheels of" \
                 "onnxruntime, LiteRT, OpenCV or numpy; install Raspberry Pi OS (64-bit) and" \
                 "run this again." >&2
            exit 1 ;;
        *) echo "install.sh: warning: untested architecture $arch" >&2 ;;
    esac
    if [ -r /etc/os-release ] && ! grep -qiE '^(ID|ID_LIKE)=.*debian' /etc/os-release; then
        echo "install.sh: warning: not a Debian-based OS; apt steps may fail" >&2
    fi
}

install_files() {
    step "$APT_GET" install -y "${APT_PACKAGES[@]}"
    step mkdir -p "$PREFIX/models" "$CONF_DIR" "$UNIT_DIR"
    if [ ! -x "$VENV/bin/python" ]; then
        step "$PYTHON" -m venv --system-site-packages "$VENV"
    else
        echo "= venv $VENV exists"
    fi
    step "$VENV/bin/pip" install --quiet "${PIP_ARGS[@]}" "$SRC$EXTRAS"
    step install -m 0644 "$SRC/README.md" "$PREFIX/README.md"
    if [ -e "$CONF_DIR/edge.toml" ]; then
        echo "= $CONF_DIR/edge.toml exists: kept (the new example is $CONF_DIR/edge.toml.example)"
        step install -m 0644 "$SRC/deploy/edge.toml" "$CONF_DIR/edge.toml.example"
    else
        step install -m 0644 "$SRC/deploy/edge.toml" "$CONF_DIR/edge.toml"
    fi
    if [ -n "$MODEL" ] && [ -d "$MODEL" ]; then
        step rm -rf "$PREFIX/models/model"
        step mkdir -p "$PREFIX/models/model"
        for build in "$MODEL"/*.onnx "$MODEL"/*.tflite "$MODEL"/report.json; do
            if [ -e "$build" ]; then step install -m 0644 "$build" "$PREFIX/models/model/"; fi
        done
        echo "= a model folder: set model = \"/opt/edge/models/model\" in $CONF_DIR/edge.toml" \
             "and edge-run picks its build (prefer = \"fastest\" times them on this device)"
    elif [ -n "$MODEL" ]; then
        step install -m 0644 "$MODEL" "$PREFIX/models/model.onnx"
    elif [ ! -e "$PREFIX/models/model.onnx" ]; then
        echo "! no model yet: convert one with edge-convert and install it as" \
             "$PREFIX/models/model.onnx (or run this again with --model FILE)"
    fi
    step install -m 0644 "$SRC/systemd/edge-run.service" "$UNIT_DIR/edge-run.service"
    step instance_unit "$UNIT_DIR/edge-run@.service"
    step "$SYSTEMCTL" daemon-reload
    if [ "$START" = 1 ]; then
        step "$SYSTEMCTL" enable --now edge-run.service
    else
        step "$SYSTEMCTL" enable edge-run.service
    fi
}

uninstall() {
    step "$SYSTEMCTL" disable --now edge-run.service || true
    for unit in edge-run.service edge-run@.service; do
        step rm -f "$UNIT_DIR/$unit"
    done
    step "$SYSTEMCTL" daemon-reload
    step rm -rf "$PREFIX"
    if [ "$PURGE" = 1 ]; then
        step rm -rf "$CONF_DIR" "${DATA_DIRS[@]}" "$ROOT/var/cache/edge" \
            "$ROOT/var/cache/private/edge"
    else
        echo "= kept $CONF_DIR and recorded data in ${DATA_DIRS[*]} (--purge deletes them)"
    fi
}

check_platform
if [ "$UNINSTALL" = 1 ]; then
    uninstall
else
    install_files
fi
if [ "$DRY_RUN" = 1 ]; then echo "dry run: nothing was changed"; else echo "done"; fi
