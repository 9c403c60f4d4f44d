"""--motion-gate in the pipeline and in the real edge-run: exact counts of inferences and of
answers carried over, every frame still answered (sinks, the results log and MQTT's label
events see what an ungated run gives), the figures in the summary, /metrics and the results
log, and bad settings refused in one line."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from edge.frame import Frame
from edge.model import ModelInfo
from edge.motion import GateParams
from edge.run.config import ConfigError, load
from edge.run.pipeline import Options, Pipeline
from edge.sinks.base import Result, Sink
from edge.sinks.mqtt import LabelTracker
from edge.sources.base import Source
from edge.telemetry.prometheus import PipelineCollector
from tools.bench_gate import still_clip

from .conftest import BIN, PHOTOS, QUANT_025

INFO = ModelInfo(arch="mobilenet_v1", alpha=0.25, resolution=32, classes=4, background=False,
                 channel_order="RGB", precision="fp32", weights={"trained": True},
                 labels=["a", "b", "c", "d"])
FRAME_NS = 1_000_000_000 // 30


class Scenes(Source):
    """Frames of numbered scenes (random textures) 1/30 s apart on the source clock."""

    kind = "scenes"

    def __init__(self, plan: list[int]) -> None:
        super().__init__()
        self.plan = plan
        rng = np.random.default_rng(0)
        self.images = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(4)]
        self.n = 0

    def read(self) -> Frame | None:
        if self.n >= len(self.plan):
            return None
        scene = self.plan[self.n]
        frame = Frame(self.images[scene], "RGB", self.n, 0, self.n * FRAME_NS, f"s{scene}")
        self.n += 1
        return frame


class SceneEngine:
    """Answers each scene's number (from its texture) and counts its runs."""

    def __init__(self, images: list[np.ndarray]) -> None:
        self.images, self.runs = images, 0

    def run(self, tensor: np.ndarray) -> np.ndarray:
        self.runs += 1
        scene = next(i for i, im in enumerate(self.images) if np.array_equal(im, tensor[0]))
        logits = np.zeros(4, np.float32)
        logits[scene] = 10.0
        return logits


class Collect(Sink):
    def __init__(self) -> None:
        self.results: list[Result] = []

    def handle(self, result: Result) -> None:
        self.results.append(result)


def run(plan: list[int], motion: GateParams | None) -> tuple[Pipeline, SceneEngine, Collect]:
    source, sink = Scenes(plan), Collect()
    engine = SceneEngine(source.images)
    pipeline = Pipeline(source, engine, INFO, [sink], options=Options(motion=motion))
    pipeline.run()
    return pipeline, engine, sink


def label_events(results: list[Result], hold_s: float = 0.2) -> list[tuple[int, str]]:
    """MQTT's label events (its hysteresis), on the source clock."""
    tracker = LabelTracker(hold_s)
    return [(r.seq, r.top[0][1]) for r in results
            if tracker.update(r.top[0][1], r.t_source_ns / 1e9)]


def test_still_scenes_are_answered_by_the_gate_and_every_frame_still_gets_its_answer():
    plan = [0] * 30 + [1] * 30 + [0] * 30
    pipeline, engine, sink = run(plan, GateParams())
    _, ungated_engine, ungated = run(plan, None)
    assert engine.runs == 3 and ungated_engine.runs == 90  # the first frame and two changes
    frames = pipeline.summary().frames
    assert (frames.processed, frames.gated) == (90, 87)
    inferred = [r.seq for r in sink.results if not r.gated]
    assert inferred == [0, 30, 60]  # each change answered on the frame that shows it
    assert [r.top[0][1] for r in sink.results] == [r.top[0][1] for r in ungated.results] == \
        ["a"] * 30 + ["b"] * 30 + ["a"] * 30
    assert label_events(sink.results) == label_events(ungated.results) == \
        [(7, "a"), (37, "b"), (67, "a")]  # 0.2 s held: 6 frames are 199,999,998 ns
    lines = [r.to_dict() for r in sink.results]
    assert [line.get("gated", False) for line in lines] == [r.seq not in (0, 30, 60)
                                                            for r in sink.results]
    assert "inference" not in lines[1]["latency_ms"] and "inference" in lines[0]["latency_ms"]
    assert "gated" not in json.dumps([r.to_dict() for r in ungated.results])


def test_a_still_scene_is_inferred_again_after_the_refresh_interval():
    # 0.5 s at 30 FPS: frame 15 is 499,999,995 ns in, frame 16 the first at 0.5 s or more
    pipeline, engine, sink = run([2] * 40, GateParams(refresh_s=0.5))
    assert [r.seq for r in sink.results if not r.gated] == [0, 16, 32]
    assert engine.runs == 3 and pipeline.summary().frames.gated == 37


def test_gated_frames_reach_the_summary_and_metrics():
    pipeline, _, _ = run([0] * 10 + [3] * 5, GateParams())
    summary = pipeline.summary()
    assert summary.to_dict()["frames"]["gated"] == 13 and "gated" in summary.to_dict()["fps"]
    samples = {(m.name, s.labels.get("kind")): s.value
               for m in PipelineCollector(pipeline.stats).collect() for s in m.samples}
    assert samples[("edge_frames", "gated")] == 13  # edge_frames_total{kind="gated"}
    assert ("edge_frames_per_second", "gated") in samples


# -- the real edge-run ---------------------------------------------------------------------
def edge_run(*args, timeout: float = 120):
    return subprocess.run([str(BIN / "edge-run"), "--no-config", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from edge.convert import ConvertOptions, convert

    out = tmp_path_factory.mktemp("gate_model")
    report = convert(ConvertOptions(output=out, weights=str(QUANT_025), calibration=PHOTOS),
                     log=lambda _: None)
    return report["files"]["int8"]["path"]


def test_edge_run_on_a_recorded_clip_gates_the_still_frames(model, tmp_path):
    clip = tmp_path / "still.avi"
    assert still_clip(clip, seconds=1.0) == [30, 60]  # parrot, bird, parrot at 30 FPS
    log, summary_file = tmp_path / "results.jsonl", tmp_path / "summary.json"
    proc = edge_run("--replay", clip, "--model", model, "--motion-gate", "--results", log,
                    "--json", summary_file, "-q", "--cache-dir", tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(summary_file.read_text())
    assert summary["frames"]["processed"] == 90 and summary["frames"]["gated"] == 87
    assert "motion gate       87 of 90 answers carried over, 3 inferred" in proc.stdout
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [i for i, line in enumerate(lines) if not line.get("gated")] == [0, 30, 60]
    labels = [line["top"][0]["label"] for line in lines]
    assert labels == ["macaw"] * 30 + ["chickadee"] * 30 + ["macaw"] * 30


@pytest.mark.parametrize(("args", "needle"), [
    (["--motion-area", "0"], "argument --motion-area: must be > 0, got 0"),
    (["--motion-area", "1"], "argument --motion-area: must be < 1, got 1"),
    (["--motion-level", "1.5"], "argument --motion-level: must be < 1, got 1.5"),
    (["--motion-level", "nan"], "argument --motion-level: must be a finite number, got nan"),
    (["--motion-refresh", "-1"], "argument --motion-refresh: must be > 0, got -1"),
])
def test_bad_gate_settings_are_one_line_errors(args, needle):
    proc = edge_run("--synthetic", "--no-infer", "--motion-gate", *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr


@pytest.mark.parametrize(("text", "needle"), [
    ("motion_gate = true\nmotion_area = 1.5\n", ":2: motion_area: must be < 1, got 1.5"),
    ("motion_level = 0.0\n", ":1: motion_level: must be > 0, got 0"),
    ("motion_refresh = -5\n", ":1: motion_refresh: must be > 0, got -5"),
    ('motion_gate = "yes"\n', ":1: motion_gate: expected true or false, got 'yes' (str)"),
])
def test_bad_gate_keys_in_the_config_name_file_line_and_key(tmp_path, text, needle):
    path = tmp_path / "edge.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load(path)
    assert str(err.value) == f"{path}{needle}"
    proc = edge_run("--config", path, "--synthetic", "--no-infer")
    assert proc.returncode == 2 and proc.stderr.strip().endswith(needle)
