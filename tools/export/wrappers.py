"""Thin torch modules that give each family the output layout its runtime decoder expects.

One wrapper per output layout the runtime decodes (stages/decoders.py):
- `GraphDetector`  -> "torchvision": boxes[N,4], scores[N], labels[N]; resize+NMS in the graph.
- `SSDRaw`         -> "raw": boxes[B,N,4] xyxy in input pixels, scores[B,N,C] after softmax.
- `OnnxNMSDetector`-> "nms": num_dets, det_boxes, det_scores, det_classes via ONNX NonMaxSuppression.
- `SegmentOut`     -> "segment": the `out` logits only (drops `aux`).
Import only where torch is installed.
"""

from __future__ import annotations

import torch
from torch import nn


class GraphDetector(nn.Module):
    """A torchvision detector on one [1,3,H,W] image in [0,1]; normalization and NMS stay inside."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor):
        out = self.model(list(images.unbind(0)))[0]  # batch 1 when exported; more only to calibrate
        return out["boxes"], out["scores"], out["labels"]


class SSDRaw(nn.Module):
    """An SSD/SSDlite without its transform and postprocess: decoded boxes and softmax scores.

    The input is already normalized by the runtime (meta mean/std) and already at the export size,
    so the anchors are constants computed once here for that size.
    """

    def __init__(self, model: nn.Module, size: tuple[int, int]):
        super().__init__()
        from torchvision.models.detection.image_list import ImageList

        self.backbone, self.head = model.backbone, model.head
        self.size = size
        self.weights = tuple(float(w) for w in model.box_coder.weights)
        self.clip = float(model.box_coder.bbox_xform_clip)
        with torch.no_grad():
            probe = torch.zeros(1, 3, *size)
            features = self._features(probe)
            anchors = model.anchor_generator(ImageList(probe, [size]), features)[0]
        self.register_buffer("anchors", anchors, persistent=False)

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.backbone(x)
        if isinstance(features, torch.Tensor):
            return [features]
        return list(features.values())

    def forward(self, images: torch.Tensor):
        head = self.head(self._features(images))
        boxes = self._decode(head["bbox_regression"])
        scores = torch.softmax(head["cls_logits"], dim=-1)
        return boxes, scores

    def _decode(self, rel: torch.Tensor) -> torch.Tensor:
        # torchvision BoxCoder.decode_single, broadcast over the batch so any batch size works.
        a = self.anchors
        widths, heights = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
        cx, cy = a[:, 0] + 0.5 * widths, a[:, 1] + 0.5 * heights
        wx, wy, ww, wh = self.weights
        dx, dy = rel[..., 0] / wx, rel[..., 1] / wy
        dw = torch.clamp(rel[..., 2] / ww, max=self.clip)
        dh = torch.clamp(rel[..., 3] / wh, max=self.clip)
        pcx, pcy = dx * widths + cx, dy * heights + cy
        half_w, half_h = 0.5 * torch.exp(dw) * widths, 0.5 * torch.exp(dh) * heights
        h, w = self.size
        x1 = (pcx - half_w).clamp(0, w)
        y1 = (pcy - half_h).clamp(0, h)
        x2 = (pcx + half_w).clamp(0, w)
        y2 = (pcy + half_h).clamp(0, h)
        return torch.stack((x1, y1, x2, y2), dim=-1)


class _NonMaxSuppression(torch.autograd.Function):
    """ONNX NonMaxSuppression: eager runs torchvision's NMS with ONNX semantics, export emits the op."""

    @staticmethod
    def forward(ctx, boxes, scores, max_per_class: int, iou: float, score_thresh: float):
        from torchvision.ops import batched_nms

        rows = []
        for b in range(scores.shape[0]):
            cls, idx = torch.nonzero(scores[b] > score_thresh, as_tuple=True)
            keep = batched_nms(boxes[b][idx], scores[b][cls, idx], cls, iou)
            cls, idx = cls[keep], idx[keep]
            # ONNX caps each class at max_output_boxes_per_class, best first.
            rank = torch.zeros_like(cls)
            for c in torch.unique(cls):
                where = torch.nonzero(cls == c).flatten()
                rank[where] = torch.arange(len(where))
            ok = rank < max_per_class
            rows.append(torch.stack((torch.full_like(cls[ok], b), cls[ok], idx[ok]), dim=1))
        return torch.cat(rows).to(torch.int64)

    @staticmethod
    def symbolic(g, boxes, scores, max_per_class, iou, score_thresh):
        return g.op(
            "NonMaxSuppression",
            boxes,
            scores,
            g.op("Constant", value_t=torch.tensor([max_per_class], dtype=torch.int64)),
            g.op("Constant", value_t=torch.tensor([iou], dtype=torch.float32)),
            g.op("Constant", value_t=torch.tensor([score_thresh], dtype=torch.float32)),
        )


class OnnxNMSDetector(nn.Module):
    """Raw SSD outputs + per-class ONNX NMS, padded to the EfficientNMS_TRT layout (decoder "nms").

    Column 0 (background) is dropped before NMS and labels shifted back, so det_classes are
    torchvision label ids. A class-agnostic top-k before NMS bounds its cost (like torchvision's
    `topk_candidates`), which matters most for random or weak weights with flat scores.
    """

    def __init__(self, raw: nn.Module, max_det: int, iou: float, score_thresh: float, pre_nms: int = 1000):
        super().__init__()
        self.raw = raw
        self.max_det, self.iou, self.score_thresh, self.pre_nms = max_det, iou, score_thresh, pre_nms

    def forward(self, images: torch.Tensor):
        boxes, scores = self.raw(images)
        scores = scores[..., 1:]
        n, c = scores.shape[1], scores.shape[2]
        top = min(self.pre_nms, n)
        _, order = scores.max(dim=-1).values.topk(top, dim=1)
        boxes = boxes.gather(1, order.unsqueeze(-1).expand(-1, -1, 4))
        scores = scores.gather(1, order.unsqueeze(-1).expand(-1, -1, c)).transpose(1, 2)  # [B,C,top]
        selected = _NonMaxSuppression.apply(boxes, scores, self.max_det, self.iou, self.score_thresh)
        # Scatter the kept (batch, class, box) triples into a mask, then one top-k per image.
        flat = (selected[:, 0] * c + selected[:, 1]) * top + selected[:, 2]
        keep = torch.zeros_like(scores).flatten().scatter(0, flat, torch.ones_like(flat, dtype=scores.dtype))
        kept = (scores * keep.reshape_as(scores)).flatten(1)
        k = min(self.max_det, c * top)
        det_scores, index = kept.topk(k, dim=1)
        valid = det_scores > 0
        det_classes = torch.where(valid, torch.div(index, top, rounding_mode="floor") + 1, 0)
        det_boxes = boxes.gather(1, (index % top).unsqueeze(-1).expand(-1, -1, 4))
        det_boxes = det_boxes * valid.unsqueeze(-1).to(det_boxes.dtype)
        num_dets = valid.sum(dim=1, keepdim=True).to(torch.int32)
        return num_dets, det_boxes, det_scores, det_classes.to(torch.int32)


class SegmentOut(nn.Module):
    """A torchvision segmentation model returning only `out` (the `aux` head is training-only)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)["out"]

