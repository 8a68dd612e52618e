"""Detector output layouts -> boxes, scores and class ids in network-input pixels.

One small function per layout, named in the model's `vpipe.decoder` metadata:
- torchvision: boxes[N,4] xyxy, scores[N], labels[N] (batch 1, resize and NMS inside the graph)
- raw:         boxes[B,N,4] xyxy, scores[B,N,C] (no NMS; the runtime runs it)
- nms:         num_dets[B,1], det_boxes[B,K,4], det_scores[B,K], det_classes[B,K]
               (EfficientNMS_TRT layout; ONNX NonMaxSuppression exports produce the same)
- centerface:  heatmap[B,1,h,w], scale[B,2,h,w], offset[B,2,h,w], landmarks[B,10,h,w]
- yolo:        [B, 4+C(+extra), N] or [B, N, 5+C] Ultralytics v8 / v5 layouts
Segmentation (logits[B,C,H,W], or "out" of torchvision models) and super-resolution
(image[B,C,sH,sW]) outputs are read by their own stages. Each function takes the outputs by
name, the score threshold, the NMS IoU and the number of classes the model declares (0 if
unknown), and returns (boxes[N,4] xyxy float32, scores[N], class_ids[N]) in network-input pixels.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

Decoded = tuple[np.ndarray, np.ndarray, np.ndarray]
Decoder = Callable[[dict[str, np.ndarray], float, float, int], Decoded]

DECODERS: dict[str, Decoder] = {}


def decoder(name: str):
    def add(fn: Decoder) -> Decoder:
        DECODERS[name] = fn
        return fn

    return add


def _ordered(outputs: dict[str, np.ndarray], names: tuple[str, ...]) -> list[np.ndarray]:
    """Outputs by conventional name when present, else by position."""
    if all(n in outputs for n in names):
        return [outputs[n] for n in names]
    return list(outputs.values())[: len(names)]


def empty() -> Decoded:
    return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0,), np.int64)


def nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou: float, limit: int = 300) -> np.ndarray:
    """Class-aware NMS; returns kept indices, best first. OpenCV's C++ NMS, not a Python loop."""
    if len(boxes) == 0:
        return np.zeros((0,), np.int64)
    xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]).astype(np.float32)
    kept = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.astype(float).tolist(),
                                   class_ids.astype(int).tolist(), 0.0, iou, top_k=limit)
    keep = np.asarray(kept, np.int64).reshape(-1)
    return keep[np.argsort(-scores[keep], kind="stable")]


@decoder("torchvision")
def decode_torchvision(outputs, threshold, iou, num_classes=0) -> Decoded:
    """boxes[N,4], scores[N], labels[N]: resize and NMS already happened inside the graph."""
    boxes, scores, labels = _ordered(outputs, ("boxes", "scores", "labels"))
    boxes, scores, labels = boxes.reshape(-1, 4), scores.reshape(-1), labels.reshape(-1)
    keep = scores >= threshold
    return boxes[keep].astype(np.float32), scores[keep].astype(np.float32), labels[keep].astype(np.int64)


@decoder("raw")
def decode_raw(outputs, threshold, iou, num_classes=0) -> Decoded:
    """boxes[B,N,4], scores[B,N,C] without NMS (batch 0); column 0 is background for torchvision."""
    boxes, scores = _ordered(outputs, ("boxes", "scores"))
    boxes, scores = boxes[0], scores[0]
    first = 1 if scores.shape[1] > 1 else 0
    cls = scores[:, first:].argmax(1) + first
    best = scores[np.arange(len(scores)), cls]
    keep = best >= threshold
    boxes, best, cls = boxes[keep], best[keep], cls[keep]
    order = nms(boxes, best, cls, iou)
    return boxes[order].astype(np.float32), best[order].astype(np.float32), cls[order].astype(np.int64)


@decoder("nms")
def decode_nms(outputs, threshold, iou, num_classes=0) -> Decoded:
    """num_dets[B,1], det_boxes[B,K,4], det_scores[B,K], det_classes[B,K] (EfficientNMS layout)."""
    num, boxes, scores, classes = _ordered(outputs, ("num_dets", "det_boxes", "det_scores", "det_classes"))
    n = int(np.asarray(num).reshape(-1)[0])
    boxes, scores, classes = boxes[0, :n], scores[0, :n], classes[0, :n]
    keep = scores >= threshold
    return boxes[keep].astype(np.float32), scores[keep].astype(np.float32), classes[keep].astype(np.int64)


@decoder("centerface")
def decode_centerface(outputs, threshold, iou, num_classes=0) -> Decoded:
    """CenterFace: a face-centre heatmap at stride 4 with log-scale sizes and sub-cell offsets."""
    heatmap, scale, offset = _ordered(outputs, ("heatmap", "scale", "offset"))
    heat = heatmap[0, 0]
    ys, xs = np.nonzero(heat > threshold)
    if len(ys) == 0:
        return empty()
    h = np.exp(scale[0, 0, ys, xs]) * 4
    w = np.exp(scale[0, 1, ys, xs]) * 4
    cy = (ys + offset[0, 0, ys, xs] + 0.5) * 4
    cx = (xs + offset[0, 1, ys, xs] + 0.5) * 4
    boxes = np.column_stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]).astype(np.float32)
    scores = heat[ys, xs].astype(np.float32)
    classes = np.zeros(len(scores), np.int64)
    order = nms(boxes, scores, classes, iou)
    return boxes[order], scores[order], classes[order]


@decoder("yolo")
def decode_yolo(outputs, threshold, iou, num_classes=0) -> Decoded:
    """Ultralytics exports: v8 [B, 4+C(+masks), N] (cx,cy,w,h + class scores) or
    v5 [B, N, 5+C] (cx,cy,w,h, objectness, class scores)."""
    pred = list(outputs.values())[0][0]
    if pred.shape[0] < pred.shape[1]:  # v8: channels first
        pred = pred.T
        # -seg exports append 32 mask coefficients after the class scores.
        end = 4 + num_classes if num_classes else pred.shape[1]
        xywh, cls_scores = pred[:, :4], pred[:, 4:end]
    else:
        end = 5 + num_classes if num_classes else pred.shape[1]
        xywh, cls_scores = pred[:, :4], pred[:, 5:end] * pred[:, 4:5]
    cls = cls_scores.argmax(1)
    best = cls_scores[np.arange(len(cls_scores)), cls]
    keep = best >= threshold
    xywh, best, cls = xywh[keep], best[keep], cls[keep]
    boxes = np.column_stack([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2]).astype(np.float32)
    order = nms(boxes, best, cls, iou)
    return boxes[order], best[order].astype(np.float32), cls[order].astype(np.int64)
