"""The person trigger (#24): MLPerf Tiny's visual wake words model imported and verified
against LiteRT on the original file, the trigger's hysteresis frame by frame, and a recorded
clip (a person for three seconds, then none) through the real edge-run into a real mosquitto,
where Home Assistant's binary_sensor goes ON and then OFF."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.errors import EdgeError
from edge.frame import Frame
from edge.run.trigger import Triggers, find_label
from edge.sinks.base import Result

from .conftest import BIN, DATA, PHOTOS
from .servers import Mosquitto, Recorder, need_mosquitto

PERSON = DATA / "person" / "vww_96_int8.tflite"
LABELS = DATA / "person" / "labels.txt"


def probs(person: float) -> np.ndarray:
    """Logits whose softmax is (1 - person, person)."""
    return np.log(np.array([1.0 - person, person]))


def test_hysteresis_frame_by_frame():
    """On after 2 frames in a row at or above 0.5, off after 3 below it; one odd frame
    either way changes nothing."""
    t = Triggers(["person"], ["notperson", "person"], threshold=0.5, frames_on=2, frames_off=3)
    scores = [0.1, 0.9, 0.2, 0.6, 0.55, 0.9, 0.1, 0.2, 0.7, 0.1, 0.1, 0.1, 0.9]
    states = [t.update(probs(s))["person"] for s in scores]
    assert [s.on for s in states] == [False, False, False, False, True, True, True, True, True,
                                      True, True, False, False]
    assert [i for i, s in enumerate(states) if s.changed] == [4, 11]
    assert states[-1].changes == 2 and t.snapshot()["person"]["changes"] == 2


def test_labels_are_found_by_name_synonym_or_index():
    imagenet = ["background", "tench, Tinca tinca", "tabby, tabby cat"]
    assert find_label("Tabby Cat", imagenet) == 2
    assert find_label("tench", imagenet) == 1
    assert find_label("class 1", None) == 1
    with pytest.raises(EdgeError, match=r"--trigger: the model has no class 'dog'"):
        find_label("dog", imagenet)


@pytest.fixture(scope="module")
def person_model(tmp_path_factory) -> dict:
    from edge.convert import ConvertOptions, convert

    out = tmp_path_factory.mktemp("person")
    return convert(ConvertOptions(output=out, weights=str(PERSON), labels=LABELS,
                                  calibration=PHOTOS, mcu=True), log=lambda _: None)


def test_import_keeps_the_files_quantization_and_agrees_with_litert(person_model):
    """The int8 model is the file's own network: LiteRT on the original file and edge's int8
    agree on every photo in both crop modes to within two output steps (1/256 each); the
    float model (the same weights dequantised, read as pixels / 255 like the file's input)
    agrees on top-1; the MCU bundle comes out with a measured arena."""
    report = person_model
    assert report["model"]["classes"] == 2 and report["quantization"]["mode"] == "keep"
    ref = report["verification"]["reference"]
    assert ref["cases"] == 24 and ref["top1_agree"] == 24
    assert ref["max_prob_diff"] * 256 <= 2
    assert report["verification"]["result"]["top1_agree"] == 24
    mcu = report["mcu"]
    assert mcu["arena_measured"] and 40_000 < mcu["arena_bytes"] < 120_000
    bundle = Path(mcu["bundle"]["path"])
    assert {p.name for p in bundle.iterdir()} >= {"model_data.cc", "model_data.h"}


def write_clip(path: Path, fps: int = 10) -> None:
    """Three seconds of a person (Grace Hopper), then three of an owl, as MJPEG in AVI."""
    person = cv2.resize(cv2.imread(str(PHOTOS / "grace_hopper.jpg")), (320, 320))
    empty = cv2.resize(cv2.imread(str(PHOTOS / "owl.jpg")), (320, 320))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (320, 320))
    assert writer.isOpened()
    for image in [person] * (3 * fps) + [empty] * (3 * fps):
        writer.write(image)
    writer.release()


def test_a_clip_switches_home_assistants_binary_sensor_on_then_off(person_model, tmp_path,
                                                                   request):
    need_mosquitto()
    clip = tmp_path / "clip.avi"
    write_clip(clip)
    server = Mosquitto(tmp_path)
    request.addfinalizer(server.stop)
    server.start()
    rec = Recorder(server.port, ["edge/door/#", "homeassistant/#"])
    request.addfinalizer(rec.close)
    model = Path(person_model["files"]["int8"]["path"]).parent
    snaps, results = tmp_path / "snaps", tmp_path / "results.jsonl"
    proc = subprocess.run(
        [str(BIN / "edge-run"), "--no-config", "--model", model, "--replay", clip,
         "--trigger", "person", "--trigger-snapshot", snaps, "--results", results,
         "--mqtt", f"mqtt://127.0.0.1:{server.port}", "--mqtt-node", "door", "--json", "-q"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["frames"]["processed"] == 60
    assert summary["triggers"] == {"person": {"on": False, "score": pytest.approx(0.024, abs=0.01),
                                              "changes": 2}}
    config = json.loads(rec.wait_for("homeassistant/device/edge_door/config"))
    sensor = config["components"]["trigger_person"]
    assert sensor["platform"] == "binary_sensor" and sensor["device_class"] == "occupancy"
    assert sensor["availability_topic"] == "edge/door/availability"
    assert sensor["state_topic"] == "edge/door/trigger/person"
    rec.wait_for("edge/door/trigger/person", lambda p: p == b"OFF" and
                 [m for m, _, _ in rec.on("edge/door/trigger/person")].count(b"ON") == 1)
    states = [m for m, _, _ in rec.on("edge/door/trigger/person")]
    assert states == [b"OFF", b"ON", b"OFF"]  # announced off, then the person came and went
    # the results log: one line per frame, the two switches marked where they happened
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    switched = [(r["seq"], r["triggers"]["person"]["on"]) for r in lines
                if r["triggers"]["person"]["changed"]]
    assert switched == [(1, True), (30 + 7, False)]  # 2 frames to switch on, 8 to switch off
    assert [p.suffix for p in snaps.iterdir()] == [".jpg"]


def test_snapshots_stay_within_their_bounds(tmp_path):
    from edge.run.trigger import TriggerState
    from edge.sinks.snapshots import TriggerSnapshots

    sink = TriggerSnapshots(tmp_path / "s", keep=2, max_bytes=10_000_000)
    sink.open(None)
    image = np.full((48, 64, 3), 128, np.uint8)
    for seq in range(5):
        state = TriggerState("person", True, 0.9, True, seq + 1)
        sink.handle(Result(seq, "", 0, [], {}, frame=Frame(image, "BGR", seq, 0),
                           triggers={"person": state}))
        time.sleep(0.05)  # one a second would be realistic; names carry the seq anyway
    sink.close()
    files = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert len(files) == 2 and files[-1].endswith("-person-00000004.jpg"), files
    assert sink.figures() == {"written": 5, "missed": 0, "removed": 3}


def test_a_trigger_the_model_cannot_answer_is_one_line(tmp_path, person_model):
    model = Path(person_model["files"]["int8"]["path"]).parent
    proc = subprocess.run([str(BIN / "edge-run"), "--no-config", "--model", model, "--replay",
                           PHOTOS, "--trigger", "cat"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("edge-run: error: --trigger: the model has no class 'cat' "
                                   "(its classes: notperson, person)")


def test_trigger_state_in_metrics():
    """/metrics: edge_trigger_on, edge_trigger_changes_total and edge_trigger_score per label,
    from the same figures /stats serves (a pipeline on synthetic frames with a fake engine
    whose person score the test sets)."""
    from prometheus_client.parser import text_string_to_metric_families

    from edge.model import ModelInfo
    from edge.run.pipeline import Options, Pipeline
    from edge.sources.synthetic import SyntheticSource
    from edge.telemetry.prometheus import metrics_route

    class Engine:
        kind = "fake"

        def run(self, _tensor):
            return np.array([-2.0, 2.0], np.float32)  # person, 98%

    info = ModelInfo("mobilenet_v1", 0.25, 96, 2, False, "RGB", "int8", {"trained": True},
                     ["notperson", "person"])
    pipeline = Pipeline(SyntheticSource(64, 48, 0), Engine(), info,
                        options=Options(max_frames=5),
                        triggers=Triggers(["person"], info.labels, 0.5, 2, 8))
    pipeline.start()
    pipeline.run()
    body, _ = metrics_route(pipeline.stats)()
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert families["edge_trigger_on"].samples[0].value == 1.0
    assert families["edge_trigger_changes"].samples[0].value == 1.0
    assert families["edge_trigger_score"].samples[0].labels == {"label": "person"}
    assert pipeline.stats().to_dict()["triggers"]["person"]["on"] is True


def test_the_motion_gate_changes_no_switch(person_model, tmp_path):
    """With --motion-gate the carried-over frames count as the trigger's frames: the same
    switches on the same frames as an ungated run, with two inferences instead of 60."""
    clip = tmp_path / "clip.avi"
    write_clip(clip)
    model = Path(person_model["files"]["int8"]["path"]).parent
    runs = {}
    for gate in ([], ["--motion-gate"]):
        results = tmp_path / f"r{len(gate)}.jsonl"
        proc = subprocess.run([str(BIN / "edge-run"), "--no-config", "--model", model,
                               "--replay", clip, "--trigger", "person", "--results", results,
                               "--json", "-q", *gate], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        lines = [json.loads(line) for line in results.read_text().splitlines()]
        runs[bool(gate)] = ([r["seq"] for r in lines if r["triggers"]["person"]["changed"]],
                            json.loads(proc.stdout)["frames"]["gated"])
    assert runs[False] == ([1, 37], 0)
    assert runs[True][0] == [1, 37] and runs[True][1] >= 50


@pytest.mark.parametrize(("flag", "value", "says"), [
    ("--trigger-threshold", "1", "must be < 1"), ("--trigger-threshold", "0", "must be > 0"),
    ("--trigger-on", "0", "must be >= 1"), ("--trigger-off", "-3", "must be >= 1")])
def test_bad_trigger_settings_are_one_line(flag, value, says):
    proc = subprocess.run([str(BIN / "edge-run"), "--no-config", "--synthetic", "--model",
                           str(PERSON), "--trigger", "person", flag, value],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert flag in proc.stderr and says in proc.stderr, proc.stderr
