"""roadview's plate detector wants a high score from a box over 30 % of the frame (`large_size`,
`large_threshold`): the bundled clip's launch towers drew a false 400x200 cover at 0.35-0.37,
tracked and back-filled over frames 162-199, while close-up plates score 0.6 and more."""

from __future__ import annotations

import av
import cv2
import numpy as np

from conftest import ROOT, SAMPLE
from vpipe.pipeline.api.frame import Frame
from vpipe.pipeline.runtime.config import load_config
from vpipe.pipeline.runtime.graph import build_graph


def frames(wanted: set[int]) -> dict[int, np.ndarray]:
    with av.open(str(SAMPLE)) as container:
        return {i: f.to_ndarray(format="bgr24") for i, f in enumerate(container.decode(video=0)) if i in wanted}


def test_the_plate_stage_drops_the_towers_and_keeps_the_plate():
    graph = build_graph(load_config(ROOT / "configs" / "roadview.yaml"))
    try:
        plates = graph.nodes["plates"].element
        images = frames({175, 177, 191})
        widths = {}
        shipped = plates.params
        for bar in (0.0, shipped.large_threshold):
            plates.params = shipped.model_copy(update={"large_threshold": bar})
            for i, image in images.items():
                d = plates(Frame(image, "camera", i, 0.0, 0.0, 0.0)).detections
                widths[bar, i] = sorted(int(b[2] - b[0]) for b in d.boxes)
    finally:
        graph.close()
    assert max(widths[0.0, 177]) > 300 and max(widths[0.0, 191]) > 300  # the towers, without the bar
    assert (shipped.large_size, shipped.large_threshold) == (0.3, 0.5)
    assert widths[0.5, 177] == [] and widths[0.5, 191] == []
    assert widths[0.5, 175] == widths[0.0, 175] != []  # the real plate, at the right edge


def test_a_large_box_that_scores_high_is_kept():
    """A close-up plate (here: a white plate with characters filling a third of the frame)."""
    graph = build_graph(load_config(ROOT / "configs" / "roadview.yaml"))
    try:
        plates = graph.nodes["plates"].element
        image = np.full((360, 640, 3), 90, np.uint8)
        cv2.rectangle(image, (180, 130), (460, 230), (255, 255, 255), -1)
        cv2.putText(image, "ABC 1234", (195, 200), cv2.FONT_HERSHEY_DUPLEX, 1.6, (0, 0, 0), 3)
        found = plates(Frame(image, "camera", 0, 0.0, 0.0, 0.0)).detections
        plates.params = plates.params.model_copy(update={"large_threshold": 0.0})
        unbarred = plates(Frame(image, "camera", 0, 0.0, 0.0, 0.0)).detections
    finally:
        graph.close()
    big = [b.tolist() for b, s in zip(found.boxes, found.scores) if b[2] - b[0] > 0.3 * 640 and s >= 0.5]
    assert big and big == [b.tolist() for b in unbarred.boxes if b[2] - b[0] > 0.3 * 640]
