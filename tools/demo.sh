#!/usr/bin/env bash
# The demo: set up (once), convert the shared MobileNetV1 0.25-128 weights to fp32 + int8
# (once), then classify live frames: a USB camera or Pi camera when one is present, otherwise
# the shared photographs replayed through the same pipeline. Extra arguments go to edge-run,
# e.g. `tools/demo.sh --http 8080` for the web page.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=../shared/data
MODEL=out/mobilenet_v1_0.25_128_int8.onnx

if [ ! -x .venv/bin/edge-run ]; then
    python3 -m venv --system-site-packages .venv   # system site: picamera2 comes from apt
    .venv/bin/pip install -q -e .
fi
if [ ! -f "$MODEL" ]; then
    if [ ! -d "$SHARED" ]; then
        echo "demo: $SHARED not found; convert your own model with edge-convert (see README)" >&2
        exit 2
    fi
    .venv/bin/edge-convert --weights "$SHARED/mobilenet_v1/mobilenet_v1_0.25_128.tflite" \
        --labels "$SHARED/mobilenet_v1/imagenet_labels.txt" --calibration "$SHARED/photos" \
        --output out
fi
if [ -e /dev/video0 ]; then
    source=(--camera 0)
elif .venv/bin/python -c 'from picamera2 import Picamera2; assert Picamera2.global_camera_info()' \
        2>/dev/null; then
    source=(--picamera)
elif [[ " $* " == *" --http "* ]]; then
    echo "demo: no camera; replaying the shared photos at 30 FPS until Ctrl-C" >&2
    source=(--replay "$SHARED/photos" --realtime --loop)
else
    echo "demo: no camera; replaying the shared photos once" >&2
    source=(--replay "$SHARED/photos" --verbose)
fi
exec .venv/bin/edge-run --model "$MODEL" "${source[@]}" "$@"
