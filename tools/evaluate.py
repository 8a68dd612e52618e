"""`vpipe eval`: measure shipped models on real images that were never used for training.

    vpipe eval sr --model models/srcnn_x3.onnx --images ../shared/data/images --scale 3

Runs on ONNX Runtime only (no torch). SSIM comes from scikit-image, the antialiased shrink from
Pillow (both in the [export] extra).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import cv2
import numpy as np
import typer

from vpipe.pipeline.errors import VpipeError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Measure models on labelled data.")

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def luma(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)[..., 0].astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


#: How a high-resolution image is made low-resolution. "imresize" is the SR literature's protocol
#: (MATLAB's imresize: bicubic whose kernel is widened by the factor, so it low-passes before it
#: decimates), the one the papers' anchors (Set5 x3: bicubic 30.39 dB, SRCNN 32.75) were measured
#: with, and the closer model of a camera, whose optics blur before its sensor samples. "opencv"
#: is cv2's INTER_CUBIC, which decimates without a low-pass: aliased detail no net can recover.
DEGRADATIONS = ("imresize", "opencv")


def imresize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 HxWx3 `image` resized to `size` (w, h) as MATLAB's imresize does it (bicubic)."""
    # Pillow's bicubic (a = -0.5, support widened by the factor when shrinking) is MATLAB's
    # imresize to the grey level away from the border (tests/test_upscale.py checks it against
    # the definition); one well-kept implementation rather than a hand-written kernel.
    from PIL import Image

    return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize(size, Image.Resampling.BICUBIC))


def downscale(bgr: np.ndarray, scale: int, degradation: str = "imresize") -> np.ndarray:
    """`bgr` (uint8, sides multiples of `scale`) made `scale` times smaller."""
    h, w = bgr.shape[0] // scale, bgr.shape[1] // scale
    if degradation == "opencv":
        return cv2.resize(bgr, (w, h), interpolation=cv2.INTER_CUBIC)
    if degradation != "imresize":
        raise VpipeError(f"degradation {degradation!r}: expected one of {', '.join(DEGRADATIONS)}")
    return imresize(bgr, (w, h))


def sr_scores(model: Path, images: list[Path], scale: int, device: str = "cpu",
              degradation: str = "imresize") -> dict:
    """PSNR/SSIM on Y with a `scale`-pixel border crop (the usual protocol), model vs bicubic."""
    from skimage.metrics import structural_similarity

    from vpipe.engines import open_engine
    from vpipe.stages.upscale import Upscaler

    engine = open_engine(model, device)
    if engine.meta.task != "super_resolution":
        raise VpipeError(f"{model}: not a super-resolution model (task {engine.meta.task!r})")
    if engine.meta.sr_scale != scale:
        raise VpipeError(f"{model}: upscales x{engine.meta.sr_scale}, not x{scale}")
    upscaler = Upscaler(engine)
    rows, seconds, megapixels = [], 0.0, 0.0
    for path in images:
        hr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if hr is None:
            raise VpipeError(f"{path}: not a readable image")
        h, w = (hr.shape[0] // scale) * scale, (hr.shape[1] // scale) * scale
        hr = hr[:h, :w]
        lr = downscale(hr, scale, degradation)
        bicubic = cv2.resize(lr, (w, h), interpolation=cv2.INTER_CUBIC)
        start = time.perf_counter()
        sr = upscaler(lr)
        seconds += time.perf_counter() - start
        megapixels += h * w / 1e6
        b = scale
        ys, yb, yh = luma(sr)[b:-b, b:-b], luma(bicubic)[b:-b, b:-b], luma(hr)[b:-b, b:-b]
        rows.append({
            "image": path.name,
            "psnr": psnr(ys, yh), "psnr_bicubic": psnr(yb, yh),
            "ssim": structural_similarity(ys, yh, data_range=255.0),
            "ssim_bicubic": structural_similarity(yb, yh, data_range=255.0),
        })
    mean = {k: round(float(np.mean([r[k] for r in rows])), 3) for k in ("psnr", "psnr_bicubic", "ssim", "ssim_bicubic")}
    return {
        "model": str(model), "scale": scale, "degradation": degradation, "images": len(rows), **mean,
        "psnr_gain": round(mean["psnr"] - mean["psnr_bicubic"], 3),
        "ms_per_megapixel": round(1000 * seconds / megapixels, 2),
        "per_image": rows,
    }


def list_images(folder: Path, recursive: bool = False) -> list[Path]:
    if not folder.is_dir():
        raise VpipeError(f"{folder}: image folder not found")
    pattern = "**/*" if recursive else "*"
    files = sorted(p for p in folder.glob(pattern) if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise VpipeError(f"{folder}: no images")
    return files


@app.command("sr")
def eval_sr(
    model: Annotated[Path, typer.Option(help="super-resolution ONNX model")],
    images: Annotated[Path, typer.Option(help="folder of high-resolution images")],
    scale: Annotated[int, typer.Option(min=2, max=8)] = 3,
    device: Annotated[str, typer.Option()] = "cpu",
    degradation: Annotated[str, typer.Option(help="how the HR image is shrunk: imresize (antialiased "
                                             "bicubic, the literature's) or opencv (aliased)")] = "imresize",
    json_path: Annotated[Optional[Path], typer.Option("--json")] = None,
) -> None:
    """PSNR and SSIM (Y channel, border crop) beside bicubic, and ms per output megapixel."""
    report = sr_scores(model, list_images(images), scale, device, degradation)
    for row in report["per_image"]:
        typer.echo(f"{row['image']:<28} {row['psnr']:7.2f} dB (bicubic {row['psnr_bicubic']:.2f})  "
                   f"SSIM {row['ssim']:.4f} (bicubic {row['ssim_bicubic']:.4f})")
    typer.echo(f"mean over {report['images']} images, x{scale}: PSNR {report['psnr']:.2f} dB vs bicubic "
               f"{report['psnr_bicubic']:.2f} dB ({report['psnr_gain']:+.2f}); SSIM {report['ssim']:.4f} vs "
               f"{report['ssim_bicubic']:.4f}; {report['ms_per_megapixel']:.1f} ms per megapixel")
    if json_path:
        json_path.write_text(json.dumps(report, indent=2) + "\n")


def detect_scores(model: Path, coco_json: Path, images: Path, model_class: str | None = None,
                  category: int | None = None, threshold: float = 0.3, device: str = "cpu",
                  complete: bool = False) -> dict:
    """Recall at IoU 0.5, AP50, boxes per image and ms per image, with pycocotools' COCOeval
    (not a hand-rolled matcher). Detections of `model_class` are scored against `category`."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from vpipe.pipeline.frame import Frame
    from vpipe.stages.base import Context
    from vpipe.stages.detect import Detect, DetectParams

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints as it loads
        gt = COCO(str(coco_json))
    categories = gt.loadCats(gt.getCatIds())
    if category is None:
        if len(categories) != 1:
            raise VpipeError(f"{coco_json}: {len(categories)} categories; choose one with --category")
        category = categories[0]["id"]
    detector = Detect(Context(name="eval", base_dir=Path.cwd(), engine_path=model, device=device),
                      DetectParams(threshold=threshold))
    classes = [c for c in detector.engine.meta.classes if c != "__background__"]
    if model_class is None:
        if len(classes) != 1:
            raise VpipeError(f"{model}: classes {', '.join(classes)}; choose one with --model-class")
        model_class = classes[0]
    detector.open()
    results, seconds, counts = [], 0.0, []
    for info in gt.loadImgs(gt.getImgIds()):
        path = images / info["file_name"]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise VpipeError(f"{path}: not a readable image")
        start = time.perf_counter()
        found = detector(Frame(image, "eval", 0, None, 0.0, 0.0)).detections
        seconds += time.perf_counter() - start
        kept = [i for i in range(len(found)) if found.class_names[i] == model_class]
        counts.append(len(kept))
        for i in kept:
            x1, y1, x2, y2 = (float(v) for v in found.boxes[i])
            results.append({"image_id": info["id"], "category_id": category,
                            "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(found.scores[i])})
    report = {"model": str(model), "images": len(counts), "threshold": threshold,
              "boxes_per_image": round(float(np.mean(counts)), 3),
              "ms_per_image": round(1000 * seconds / max(1, len(counts)), 2)}
    if not results:
        return {**report, "recall": 0.0, "ap50": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        evaluation = COCOeval(gt, gt.loadRes(results), "bbox")
        evaluation.params.catIds = [category]
        evaluation.params.iouThrs = np.array([0.5])
        evaluation.params.maxDets = [1, 10, 100]
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    report["recall"] = round(float(evaluation.stats[8]), 4)  # AR@100 at the single IoU 0.5
    report["ap50"] = round(float(evaluation.stats[0]), 4)
    report["ap50_meaningful"] = complete
    return report


@app.command("detect")
def eval_detect(
    model: Annotated[Path, typer.Option(help="detector ONNX model")],
    coco: Annotated[Path, typer.Option(help="COCO annotations (JSON)")],
    images: Annotated[Path, typer.Option(help="folder of the annotated images")],
    model_class: Annotated[Optional[str], typer.Option(help="model class scored (default: its only one)")] = None,
    category: Annotated[Optional[int], typer.Option(help="COCO category id (default: the only one)")] = None,
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.3,
    complete: Annotated[bool, typer.Option(help="every object is annotated, so precision and AP mean something")] = False,
    device: Annotated[str, typer.Option()] = "cpu",
    json_path: Annotated[Optional[Path], typer.Option("--json")] = None,
) -> None:
    """Recall at IoU 0.5, AP50 (complete annotations only), boxes per image, ms per image."""
    if not coco.is_file():
        raise VpipeError(f"{coco}: annotations not found")
    report = detect_scores(model, coco, images, model_class, category, threshold, device, complete)
    ap = f"AP50 {report['ap50']:.3f}" if complete else "AP50 n/a (annotations incomplete)"
    typer.echo(f"{report['images']} images: recall@0.5 {report['recall']:.3f}, {ap}, "
               f"{report['boxes_per_image']:.2f} boxes per image, {report['ms_per_image']:.1f} ms per image")
    if json_path:
        json_path.write_text(json.dumps(report, indent=2) + "\n")
