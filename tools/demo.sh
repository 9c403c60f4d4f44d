#!/usr/bin/env bash
# The demo, from a fresh clone and offline: set up .venv (once), convert the bundled
# MobileNetV1 0.5-160 (TensorFlow's quantization-aware-trained release, data/models) to ONNX
# (once), then classify: a USB camera or Pi camera when one is present, otherwise the bundled
# photographs (data/photos) replayed through the same pipeline. Extra arguments go to edge-run,
# e.g. `tools/demo.sh --http 8080` for the live web page. `tools/demo.sh --person` runs the
# bundled person model (MLPerf Tiny's visual wake words, data/person) as a person trigger.
set -euo pipefail
cd "$(dirname "$0")/.."
WEIGHTS=data/models/mobilenet_v1_0.5_160_quant.tflite
OUT=out/demo
CONVERT=()
TRIGGER=()
if [ "${1:-}" = "--person" ]; then  # "is someone there": MLPerf Tiny's person model, a trigger
    shift
    WEIGHTS=data/person/vww_96_int8.tflite
    OUT=out/person
    CONVERT=(--labels data/person/labels.txt)
    TRIGGER=(--trigger person)
fi

if [ ! -x .venv/bin/edge-run ]; then
    python3 -m venv --system-site-packages .venv   # system site: picamera2 comes from apt
    .venv/bin/pip install -q -e .
fi
if [ ! -f "$OUT/report.json" ]; then
    echo "demo: converting $WEIGHTS (once; its trained int8 quantization is kept, the photos verify it)" >&2
    .venv/bin/edge-convert --weights "$WEIGHTS" "${CONVERT[@]}" --calibration data/photos \
        --output "$OUT"
fi
if [ -e /dev/video0 ]; then
    source=(--camera 0)
elif .venv/bin/python -c 'from picamera2 import Picamera2; assert Picamera2.global_camera_info()' \
        2>/dev/null; then
    source=(--picamera)
elif [[ " $* " == *" --http "* ]]; then
    echo "demo: no camera; showing the bundled photos, each for 2 s (--hold), until Ctrl-C" >&2
    source=(--replay data/photos --realtime --loop)
else
    echo "demo: no camera; replaying the bundled photos once" >&2
    source=(--replay data/photos --verbose)
fi
echo "demo: the commands are in .venv/bin: run them as .venv/bin/edge-run, or by name after" \
     "'. .venv/bin/activate'; a bigger model (downloaded once): .venv/bin/edge-convert" \
     "--weights tflite:1.0_224_quant --calibration data/photos -o out/big" >&2
exec .venv/bin/edge-run --model "$OUT" "${source[@]}" "${TRIGGER[@]}" "$@"
