"""Append TensorRT's EfficientNMS_TRT plugin to a raw-detector ONNX graph (onnx-graphsurgeon).

The input graph has `boxes[B,N,4]` (xyxy) and `scores[B,N,C]` with column 0 the background; the
result has the "nms" layout: num_dets[B,1], det_boxes[B,K,4], det_scores[B,K], det_classes[B,K].
Only TensorRT runs the plugin; ONNX Runtime cannot load the result.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: the plugin's custom domain; TensorRT's ONNX parser finds plugins by op name in any domain.
PLUGIN_DOMAIN = "TRT"


def add_efficientnms(path: str | Path, max_det: int, iou: float, score_thresh: float) -> None:
    """Rewrite `path` in place: raw outputs -> EfficientNMS_TRT outputs (background class 0)."""
    import onnx
    import onnx_graphsurgeon as gs

    model = onnx.load(str(path))
    graph = gs.import_onnx(model)
    outputs = {t.name: t for t in graph.outputs}
    boxes, scores = outputs["boxes"], outputs["scores"]
    batch = graph.inputs[0].shape[0]
    names = ("num_dets", "det_boxes", "det_scores", "det_classes")
    # The plugin's outputs take the decoder's names; the raw tensors are renamed out of the way.
    boxes.name, scores.name = "raw_boxes", "raw_scores"
    results = [
        gs.Variable(names[0], dtype=np.int32, shape=[batch, 1]),
        gs.Variable(names[1], dtype=np.float32, shape=[batch, max_det, 4]),
        gs.Variable(names[2], dtype=np.float32, shape=[batch, max_det]),
        gs.Variable(names[3], dtype=np.int32, shape=[batch, max_det]),
    ]
    graph.layer(
        op="EfficientNMS_TRT",
        name="efficient_nms",
        domain=PLUGIN_DOMAIN,
        inputs=[boxes, scores],
        outputs=results,
        attrs={
            "plugin_version": "1",
            "background_class": 0,  # torchvision column 0; labels stay torchvision ids
            "max_output_boxes": int(max_det),
            "score_threshold": float(max(score_thresh, 1e-6)),
            "iou_threshold": float(iou),
            "score_activation": 0,  # scores are already softmax probabilities
            "class_agnostic": 0,
            "box_coding": 0,  # corners: x1, y1, x2, y2
        },
    )
    graph.outputs = results
    graph.cleanup().toposort()
    out = gs.export_onnx(graph)
    out.metadata_props.extend(model.metadata_props)
    if not any(op.domain == PLUGIN_DOMAIN for op in out.opset_import):
        out.opset_import.append(onnx.helper.make_opsetid(PLUGIN_DOMAIN, 1))
    onnx.save(out, str(path))
