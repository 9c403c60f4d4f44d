"""DATA: class names, listing, saving examples (what edge-run --collect uses), and the real
edge-train command on bad input: one-line errors, warnings, and nothing written to OUT."""

import json
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from edge.errors import EdgeError
from edge.sources.replay import ImageFolderSource
from edge.train.dataset import list_classes, save_example, scan, validate_class_name

from .conftest import BIN, PHOTOS, QUANT_025


def edge_train(*args, timeout=300):
    return subprocess.run([str(BIN / "edge-train"), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def one_line_error(proc, *words):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edge-train: error: "), proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert "Traceback" not in proc.stderr


def photos(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(PHOTOS / f"{name}.jpg", folder / f"{name}.jpg")
    return folder


@pytest.mark.parametrize("name", ["cat", "garage door open", "Mülltonne", "bird-2",
                                  "O'Brien's mug", "a.b_c(1)", "x" * 64, "猫"])
def test_valid_class_names(name):
    assert validate_class_name(name) == name


@pytest.mark.parametrize(("name", "why"), [
    ("", "empty"), (" cat", "space"), ("cat ", "space"), ("a/b", "'/'"), (".cache", "dot"),
    ("-v", "option"), ("x" * 65, "64"), ("two\nlines", "'\\n'"), ("what?", "'?'"),
    ("a:b", "':'"), ("tab\there", "'\\t'")])
def test_invalid_class_names_say_why_in_one_line(name, why):
    with pytest.raises(EdgeError) as info:
        validate_class_name(name)
    message = str(info.value)
    assert why in message and "\n" not in message.replace(repr(name), "")


def test_list_classes_counts_images_without_decoding(tmp_path):
    photos(tmp_path / "cat", "cat", "cat_720p")
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / "cat" / "broken.jpg").write_bytes(b"not a jpeg")  # counted: not decoded
    (tmp_path / "empty").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "bad?name").mkdir()
    found = {c.name: c for c in list_classes(tmp_path)}
    assert set(found) == {"cat", "empty", "bad?name"}
    assert (found["cat"].count, found["empty"].count) == (3, 0)
    assert found["cat"].problem is None and "'?'" in found["bad?name"].problem
    assert list_classes(tmp_path / "missing") == []


@pytest.mark.parametrize("order", ["BGR", "RGB"])
def test_save_example_writes_a_jpeg_the_replay_source_reads(tmp_path, order):
    image = np.zeros((120, 160, 3), np.uint8)
    image[:, :, 0] = 200  # blue in BGR, red in RGB
    paths = [save_example(tmp_path, "red or blue", image, order) for _ in range(3)]
    assert len(set(paths)) == 3 and sorted(paths) == paths  # unique, in the order taken
    folder = tmp_path / "red or blue"
    assert sorted(p.name for p in folder.iterdir()) == [p.name for p in paths]  # no temp left
    with ImageFolderSource(folder) as source:
        frames = list(source)
    assert [f.name for f in frames] == [p.name for p in paths]
    blue, red = frames[0].image[60, 80, 0], frames[0].image[60, 80, 2]  # decoded as BGR
    assert (blue > 150 and red < 50) if order == "BGR" else (red > 150 and blue < 50)


def test_save_example_refuses_bad_names_and_images(tmp_path):
    image = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(EdgeError, match="not valid"):
        save_example(tmp_path, "../escape", image, "BGR")
    with pytest.raises(EdgeError, match="HxWx3 uint8"):
        save_example(tmp_path, "cat", np.zeros((10, 10), np.uint8), "BGR")
    with pytest.raises(EdgeError, match="BGR or RGB"):
        save_example(tmp_path, "cat", image, "YUV")
    assert not (tmp_path / "cat").exists() and not (tmp_path.parent / "escape").exists()


def test_save_example_where_the_class_folder_cannot_be_is_one_line(tmp_path):
    (tmp_path / "cat").write_text("a file where the folder should be")
    with pytest.raises(EdgeError, match="cannot create the class folder"):
        save_example(tmp_path, "cat", np.zeros((10, 10, 3), np.uint8), "BGR")


def test_scan_counts_duplicates_once_and_leaves_out_contradictions(tmp_path):
    photos(tmp_path / "animal", "cat", "owl")
    photos(tmp_path / "food", "hot_dog", "owl")  # the owl in two classes: left out of both
    shutil.copy(PHOTOS / "cat.jpg", tmp_path / "animal" / "cat (1).jpg")
    result = scan(tmp_path)
    assert result.classes == ["animal", "food"]
    # the first in the replay source's order stays: "cat (1).jpg" sorts before "cat.jpg"
    assert sorted(p.path.name for p in result.photos) == ["cat (1).jpg", "hot_dog.jpg"]
    assert len(result.duplicates) == 2
    assert any("cat.jpg is a copy of cat (1).jpg: counted once" in d for d in result.duplicates)
    assert any("both left out" in d for d in result.duplicates)


# ---- the real command on bad input -------------------------------------------------------

def nothing_written(out):
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


@pytest.mark.parametrize(("make", "words"), [
    (lambda d: (photos(d / "cat", "cat"), (d / "dog").mkdir()), ("dog", "empty class folder")),
    (lambda d: photos(d / "cat", "cat", "cat_720p"), ("one class (cat)", "at least two")),
    (lambda d: (photos(d / "cat", "cat"), photos(d / "what?", "owl")), ("what?", "'?'")),
    (lambda d: (photos(d / "cat", "cat"), photos(d / "Cat", "owl")), ("differ only in case",)),
    (lambda d: d.rmdir(), ("not found",)),
])
def test_bad_data_is_one_line_and_writes_nothing(tmp_path, make, words):
    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    make(data)
    proc = edge_train(data, "--output", out, "--base", QUANT_025, "--no-cache")
    one_line_error(proc, *words)
    nothing_written(out)


def test_a_class_left_without_readable_photos_is_one_line(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    photos(data / "cat", "cat")
    (data / "dog").mkdir()
    (data / "dog" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    proc = edge_train(data, "--output", out, "--base", QUANT_025, "--no-cache")
    one_line_error(proc, "dog", "no usable photos (1 unreadable, 0 the same image")
    nothing_written(out)


def test_output_must_not_replace_what_is_not_a_model_folder(tmp_path):
    data = tmp_path / "data"
    photos(data / "cat", "cat")
    photos(data / "dog", "imprinting_dog_test_0")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("precious")
    one_line_error(edge_train(data, "--output", mine, "--base", QUANT_025), "not a model folder")
    assert (mine / "thesis.txt").read_text() == "precious"
    one_line_error(edge_train(data, "--output", data / "model", "--base", QUANT_025),
                   "inside DATA")
    one_line_error(edge_train(data, "--base", QUANT_025), "--output OUT is required")
    one_line_error(edge_train(data, "--output", tmp_path / "o", "--views", "99"), "--views")
    one_line_error(edge_train(data, "--output", tmp_path / "o", "--base", tmp_path / "none"),
                   "not found")
    one_line_error(edge_train(data, "--output", tmp_path / "o", "--base", mine), "a folder")
    one_line_error(edge_train(data, "--output", tmp_path / "o", "--unknown-label", "a/b"),
                   "not valid")


def test_unreadable_and_duplicate_photos_are_warned_and_the_rest_trained(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    photos(data / "animal", "cat", "owl", "bird")
    photos(data / "food", "hot_dog", "missvickie_potato_chips")
    (data / "food" / "half.jpg").write_bytes((PHOTOS / "hot_dog.jpg").read_bytes()[:300])
    shutil.copy(PHOTOS / "owl.jpg", data / "animal" / "owl again.jpg")
    cv2.imwrite(str(data / "stray.png"), np.zeros((8, 8, 3), np.uint8))
    proc = edge_train(data, "--output", out, "--base", QUANT_025, "--no-cache", "--views", "2")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert [c["photos"] for c in report["data"]["classes"]] == [3, 2]
    assert report["data"]["skipped"] == [f"{data / 'food' / 'half.jpg'}: not an image OpenCV can "
                                           "decode"]
    assert "counted once" in report["data"]["duplicates"][0]
    assert "stray.png" in report["data"]["ignored"][0]
    text = proc.stdout
    assert "1 unreadable, skipped" in text and "1 duplicate" in text and "few photos" in text
    assert report["unknown"]["novel"] == 0  # two classes: nothing to hold out as novel
    assert "95%" in report["unknown"]["rule"]


@pytest.mark.parametrize("flags", [(), ("--no-unknown",)])
def test_a_class_named_other_is_the_unknown_answer_and_no_unknown_adds_none(tmp_path, flags):
    from edge.model import read_model_info

    data, out = tmp_path / "data", tmp_path / "out"
    photos(data / "animal", "cat", "owl")
    photos(data / "food", "hot_dog", "missvickie_potato_chips")
    if not flags:
        photos(data / "other", "grace_hopper", "kite_and_cold")
    proc = edge_train(data, "--output", out, "--base", QUANT_025, "--no-cache", "--views", "1",
                      *flags)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    labels = ["animal", "food", "other"] if not flags else ["animal", "food"]
    assert read_model_info(next(out.glob("*int8.onnx"))).labels == labels
    if flags:
        assert report["unknown"] is None and not any("'other'" in w for w in report["warnings"])
    else:
        assert report["unknown"]["threshold"] is None and "class of DATA" in proc.stdout
