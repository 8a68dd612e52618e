"""Static regions of an anonymize stage: `always` covered on every frame, `never` drops false covers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from test_anonymize import textured

from conftest import SAMPLE, write_config
from vpipe.pipeline.api.element import Context, StreamInfo
from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.api.frame import Detections, Frame
from vpipe.pipeline.runtime.config import load_config
from vpipe.pipeline.runtime.graph import build_graph
from vpipe.stages.anonymize import Anonymize, AnonymizeParams

OVERLAY = [[200, 200], [310, 200], [310, 235], [200, 235]]  # a dashcam's text overlay, bottom right
HOOD = [[0, 150], [320, 150], [320, 240], [0, 240]]


def stage(**regions) -> Anonymize:
    return Anonymize(Context("anon", Path(".")), AnonymizeParams(padding=0.0, regions=regions))


def frame(index: int, boxes=(), names=()) -> Frame:
    f = Frame(textured(), "s", index, 0.0, 0.0, 0.0)
    if boxes:
        f.detections = Detections(np.array(boxes, np.float32), np.full(len(boxes), 0.9, np.float32),
                                  np.zeros(len(boxes), np.int64), tuple(names))
    return f


def test_always_covers_its_polygon_on_every_frame_and_nothing_else():
    anon = stage(always=[OVERLAY])
    inside = np.zeros((240, 320), bool)
    inside[200:236, 200:311] = True
    for index in range(3):  # no detection at all: covered anyway
        before = textured()
        out = anon(frame(index))
        assert np.array_equal(out.image[~inside], before[~inside])
        assert np.abs(out.image[inside].astype(int) - before[inside]).mean() > 20
        assert out.audit["anon"]["polygons"] == [OVERLAY]


def test_never_drops_a_signs_false_cover_but_keeps_a_plate_unless_allowed():
    sign, plate, face = [20, 180, 80, 220], [150, 190, 210, 215], [100, 20, 140, 60]
    boxes, names = [sign, plate, face], ["sign", "licence_plate", "face"]
    out = stage(never=[HOOD])(frame(0, boxes, names))
    assert out.audit["anon"]["boxes"] == [plate, face]
    assert out.audit["anon"]["never"] == [{"box": [float(v) for v in sign], "class": "sign"}]
    assert np.array_equal(out.image[180:220, 20:80], textured()[180:220, 20:80])  # the sign stays sharp
    allowed = stage(never=[HOOD], allow_uncover=True)(frame(0, boxes, names))
    assert allowed.audit["anon"]["boxes"] == [face]  # outside the hood: covered whatever
    assert [d["class"] for d in allowed.audit["anon"]["never"]] == ["sign", "licence_plate"]


@pytest.mark.parametrize("polygon", [[[0, 0], [10, 10]], [[0, 0], [10, 10], [20, 20]]])
def test_an_empty_polygon_is_refused(polygon):
    with pytest.raises(ValidationError, match="polygon 0 is empty"):
        AnonymizeParams(regions={"always": [polygon]})


def test_a_polygon_outside_the_frame_is_refused_before_the_first_frame(tmp_path):
    config = write_config(tmp_path, f"""
sources: [{{uri: {SAMPLE}}}]
stages:
  - {{type: anonymize, params: {{regions: {{never: [[[0, 0], [700, 0], [700, 50]]]}}}}}}
sinks: [{{type: "null"}}]
""")
    with pytest.raises(VpipeError, match=r"graph\.yaml:\d+: stages\[0\]: anonymize: params\.regions\.never\[0\]: "
                                         r"a point lies outside the 640x360 frame"):
        build_graph(load_config(config))
    anon = Anonymize(Context("anon", Path("."), streams={"s": StreamInfo("s")}),
                     AnonymizeParams(regions={"always": [[[0, 0], [400, 0], [400, 50]]]}))
    with pytest.raises(VpipeError, match=r"regions\.always\[0\]: a point lies outside the 320x240 frame"):
        anon(frame(0))  # a size known only with the first frame: checked then, failing closed
