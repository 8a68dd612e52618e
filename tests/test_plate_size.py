"""roadview's plate detector wants a high score from a box over 30 % of the frame (`large_size`,
`large_threshold`): before part 3 of its training the bundled clip's launch towers drew a false
400x200 cover at 0.35-0.37, while close-up plates score 0.6 and more. The part-3 model (trained on
frame-filling close-ups too) scores the towers 0.55-0.94, so the shipped bar of 0.5 no longer drops
them (docs/plates.md, "False blurs"); the bar itself is checked here on those real detections."""

from __future__ import annotations

import av
import cv2
import numpy as np

from conftest import ROOT, SAMPLE
from vpipe.pipeline.api.frame import Frame
from vpipe.pipeline.runtime.config import load_config
from vpipe.pipeline.runtime.graph import build_graph
from vpipe.tools.data.make_sample import plate_box


def frames(wanted: set[int]) -> dict[int, np.ndarray]:
    with av.open(str(SAMPLE)) as container:
        return {i: f.to_ndarray(format="bgr24") for i, f in enumerate(container.decode(video=0)) if i in wanted}


def test_a_bar_above_the_towers_score_drops_them_and_keeps_the_plate():
    graph = build_graph(load_config(ROOT / "configs" / "roadview.yaml"))
    try:
        plates = graph.nodes["plates"].element
        images = frames({175, 177, 191})
        widths = {}
        shipped = plates.params
        for bar in (0.0, 0.97):
            # every frame: the shipped graph looks at every other one (every: 2)
            plates.params = shipped.model_copy(update={"large_threshold": bar, "every": 1})
            for i, image in images.items():
                d = plates(Frame(image, "camera", i, 0.0, 0.0, 0.0)).detections
                widths[bar, i] = sorted(int(b[2] - b[0]) for b in d.boxes)
    finally:
        graph.close()
    assert max(widths[0.0, 177]) > 200 and max(widths[0.0, 191]) > 300  # the towers, without the bar
    assert (shipped.large_size, shipped.large_threshold) == (0.3, 0.5)
    assert widths[0.97, 191] == [] and max(widths[0.97, 177], default=0) < 100
    assert [w for w in widths[0.0, 175] if w < 100] == widths[0.97, 175] != []  # the real plate, at the right edge


def test_a_large_box_that_scores_high_is_kept():
    """A close-up plate: the bundled clip's own plate with the car around it, enlarged so the
    plate is 230 px wide, over a third of a 640-px frame. (A flat white card with black printed
    text is not one: the part-3 model learnt such signs as hard negatives and scores it 0.11.)"""
    graph = build_graph(load_config(ROOT / "configs" / "roadview.yaml"))
    try:
        plates = graph.nodes["plates"].element
        x0, y0, x1, y1 = plate_box(100)
        w, h = x1 - x0, y1 - y0
        crop = frames({100})[100][y0 - 2 * h:y1 + 2 * h, x0 - w // 2:x1 + w // 2]
        enlarged = cv2.resize(crop, None, fx=230 / w, fy=230 / w, interpolation=cv2.INTER_CUBIC)
        image = np.full((360, 640, 3), 90, np.uint8)
        image[:enlarged.shape[0], :enlarged.shape[1]] = enlarged
        found = plates(Frame(image, "camera", 0, 0.0, 0.0, 0.0)).detections
        plates.params = plates.params.model_copy(update={"large_threshold": 0.0})
        unbarred = plates(Frame(image, "camera", 0, 0.0, 0.0, 0.0)).detections
    finally:
        graph.close()
    big = [b.tolist() for b, s in zip(found.boxes, found.scores) if b[2] - b[0] > 0.3 * 640 and s >= 0.5]
    assert big and big == [b.tolist() for b in unbarred.boxes if b[2] - b[0] > 0.3 * 640]
