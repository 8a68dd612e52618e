"""Geometry of boxes (x1, y1, x2, y2 in frame pixels) that the framework and elements share:
the tracker and the verifier pair boxes by IoU, the anonymizer and the verifier draw one ellipse."""

from __future__ import annotations

import cv2
import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in `a` (N, 4) with every box in `b` (M, 4), xyxy."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def ellipse_mask(box: tuple[int, int, int, int], width: int, height: int) -> np.ndarray:
    """Boolean mask of the ellipse inscribed in `box`. A side on the frame's edge is mirrored beyond
    it: the object goes on outside the frame, so the ellipse's widest part must lie on the edge
    (an inscribed ellipse would leave the edge's corners, half the visible object, uncovered)."""
    x1, y1, x2, y2 = box
    rw, rh = x2 - x1, y2 - y1
    left, right = (-rw if x1 == 0 else 0), (2 * rw if x2 == width else rw)
    top, bottom = (-rh if y1 == 0 else 0), (2 * rh if y2 == height else rh)
    mask = np.zeros((rh, rw), np.uint8)
    cv2.ellipse(mask, (((left + right) / 2, (top + bottom) / 2), (right - left, bottom - top), 0), 255, -1)
    return mask > 0
