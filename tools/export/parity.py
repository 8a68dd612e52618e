"""Agreement measures between two runs of one model (PyTorch vs ONNX, fp32 vs int8). numpy only.

- dense outputs (SR, segmentation logits, raw detector tensors): max abs and relative error;
- detections: greedy same-class IoU matching, mean IoU over matches, match rate, max score diff;
- segmentation maps: mIoU of one argmax map against the other;
- SR images: PSNR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vpipe.pipeline.api.boxes import box_iou  # the tracker's pairwise IoU: one definition


def dense_error(ref: np.ndarray, out: np.ndarray) -> dict[str, float]:
    """Max abs error, and that error relative to the reference's largest magnitude."""
    ref, out = np.asarray(ref, np.float64), np.asarray(out, np.float64)
    if ref.shape != out.shape:
        return {"max_abs": float("inf"), "max_rel": float("inf")}
    diff = float(np.abs(ref - out).max()) if ref.size else 0.0
    peak = float(np.abs(ref).max()) if ref.size else 0.0
    return {"max_abs": diff, "max_rel": diff / max(peak, 1e-12)}


@dataclass
class BoxAgreement:
    #: matches / max(len(ref), len(out)); 1.0 when both are empty.
    match_rate: float
    #: mean IoU over the matched pairs (1.0 when nothing to match).
    mean_iou: float
    #: largest score difference over the matched pairs.
    max_score_diff: float
    n_ref: int
    n_out: int
    matches: int

def match_boxes(
    ref: tuple[np.ndarray, np.ndarray, np.ndarray],
    out: tuple[np.ndarray, np.ndarray, np.ndarray],
    min_iou: float = 0.5,
) -> BoxAgreement:
    """Greedy matching, best reference score first, each to the best unmatched same-class box."""
    rb, rs, rl = (np.asarray(v) for v in ref)
    ob, os_, ol = (np.asarray(v) for v in out)
    n_ref, n_out = len(rs), len(os_)
    if n_ref == 0 and n_out == 0:
        return BoxAgreement(1.0, 1.0, 0.0, 0, 0, 0)
    iou = box_iou(rb, ob) if n_ref and n_out else np.zeros((n_ref, n_out))
    iou = np.where(rl.reshape(-1, 1) == ol.reshape(1, -1), iou, 0.0)
    used = np.zeros(n_out, bool)
    ious, diffs = [], []
    for i in np.argsort(-rs, kind="stable"):
        if not n_out:
            break
        cand = np.where(used, -1.0, iou[i])
        j = int(cand.argmax())
        if cand[j] >= min_iou:
            used[j] = True
            ious.append(cand[j])
            diffs.append(abs(float(rs[i]) - float(os_[j])))
    return BoxAgreement(
        match_rate=len(ious) / max(n_ref, n_out),
        mean_iou=float(np.mean(ious)) if ious else 0.0,
        max_score_diff=float(max(diffs)) if diffs else 0.0,
        n_ref=n_ref,
        n_out=n_out,
        matches=len(ious),
    )


def nms_rows(num_dets, det_boxes, det_scores, det_classes, b: int = 0):
    """The valid detections of image `b` in an "nms"-layout output, as (boxes, scores, labels)."""
    n = int(np.asarray(num_dets).reshape(len(det_boxes), -1)[b, 0])
    return det_boxes[b, :n], det_scores[b, :n], det_classes[b, :n]


def miou(ref_labels: np.ndarray, out_labels: np.ndarray, num_classes: int) -> float:
    """Mean IoU of one label map against another, over classes present in either."""
    ious = []
    for c in range(num_classes):
        a, b = ref_labels == c, out_labels == c
        union = np.logical_or(a, b).sum()
        if union:
            ious.append(np.logical_and(a, b).sum() / union)
    return float(np.mean(ious)) if ious else 1.0


def psnr(ref: np.ndarray, out: np.ndarray, peak: float = 1.0) -> float:
    """PSNR in dB of `out` against `ref` (images in [0, peak]); inf when identical."""
    mse = float(np.mean((np.asarray(ref, np.float64) - np.asarray(out, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak * peak / mse)
