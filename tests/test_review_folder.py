"""`vpipe review` on an image folder, without a browser: the state the page drives."""

from __future__ import annotations

import json

import cv2
import numpy as np
from test_apply import images, run_output  # noqa: F401  (the fixture: a lossless run over six PNGs)

from vpipe.pipeline.apps.review import Review, review_path


def test_a_folder_is_reviewed_saved_and_rendered(run_output):  # noqa: F811
    originals, config, run_dir, audit = run_output
    review = Review(originals, run_dir, audit, config)
    info = review.info()
    assert (info["frames"], info["width"], info["height"], info["flagged"]) == (6, 640, 360, [])
    shown = cv2.imdecode(np.frombuffer(review.jpeg(3), np.uint8), cv2.IMREAD_COLOR)
    before = images(run_dir)
    assert np.abs(shown.astype(int) - before["f3.png"]).mean() < 3  # the output's frame, as a JPEG
    frame = review.frame_info(3)
    assert frame["name"] == "f3.png" and {c["stage"] for c in frame["covers"]} == {"face_blur", "plate_blur"}
    manual = [500, 40, 600, 120]
    saved = review.save({"3": {"manual": [{"box": manual, "class": "region"}], "remove": [frame["covers"][0]["box"]]}})
    assert saved == review_path(run_dir) and saved.name == "run.review.jsonl"
    lines = [json.loads(line) for line in saved.read_text().splitlines()]
    assert [bool(r.get("manual")) for r in lines] == [False, False, False, True, False, False]
    out = review.render()
    assert out.name == "run.reviewed" and review.anonymized == out
    after = images(out)
    x0, y0, x1, y1 = manual
    assert np.abs(after["f3.png"][y0:y1, x0:x1].astype(int) - before["f3.png"][y0:y1, x0:x1]).mean() > 5
    assert review.frame_info(3)["covers"][-1] == {"box": manual, "stage": "review", "class": "region"}
    assert np.array_equal(after["f0.png"], before["f0.png"])
