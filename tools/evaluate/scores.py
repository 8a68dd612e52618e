"""`vpipe eval`: measure shipped models on real images that were never used for training.

    vpipe eval sr --model models/srcnn_x3.onnx --images ../shared/data/images --scale 3
    vpipe eval sr --pairs ../shared/data/sr-bench --model models/srcnn_x3.onnx   # Set5/Set14, papers' protocol

Runs on ONNX Runtime only (no torch). SSIM comes from scikit-image, the antialiased shrink from
Pillow (both in the [export] extra).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Annotated, Optional

import cv2
import numpy as np
import typer

from vpipe.pipeline.api.errors import VpipeError
from vpipe.pipeline.api.media import IMAGE_SUFFIXES

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False,
                  help="Measure models on labelled data.")



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
              degradation: str = "imresize", threads: int | None = None) -> dict:
    """PSNR/SSIM on Y with a `scale`-pixel border crop (the usual protocol), model vs bicubic."""
    from skimage.metrics import structural_similarity

    from vpipe.engines import open_engine
    from vpipe.stages.upscale import Upscaler

    engine = open_engine(model, device, threads)
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


def y_bt601(image: np.ndarray) -> np.ndarray:
    """Y on the 0-255 scale as MATLAB's rgb2ycbcr computes it (ITU-R BT.601, studio range), as
    float; a grey image is its own Y, as the papers' scripts leave it (converting its replicated
    channels instead scores Set14 x3 bicubic 27.63 dB, not the published 27.54)."""
    if image.ndim == 2:
        return image.astype(np.float64)
    b, g, r = (image[..., i].astype(np.float64) for i in range(3))
    return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def find_pairs(root: Path) -> dict[tuple[str, int], list[tuple[Path, Path]]]:
    """{(set, scale): [(HR, LR), ...]} for every `*_HR.*` under `root` with its `*_LR.*` beside it.
    The set is the first folder under `root` (Set5 for Set5/image_SRF_3/...); the scale is HR/LR."""
    if not root.is_dir():
        raise VpipeError(f"{root}: pairs folder not found")
    groups: dict[tuple[str, int], list[tuple[Path, Path]]] = {}
    # os.walk rather than Path.rglob: it follows links, so a set linked into the folder counts
    found = (Path(folder) / name for folder, _, names in os.walk(root, followlinks=True) for name in names)
    for hr in sorted(p for p in found if p.suffix.lower() in IMAGE_SUFFIXES and p.stem.endswith("_HR")):
        lr = hr.with_name(hr.stem[:-3] + "_LR" + hr.suffix)
        if not lr.is_file():
            raise VpipeError(f"{hr}: no low-resolution {lr.name} beside it")
        (hw, hh), (lw, lh) = image_size(hr), image_size(lr)
        scale = hh // lh
        # The papers crop HR to a multiple of the scale before shrinking it ("modcrop"): allow that
        # remainder, nothing else.
        if scale < 2 or hw // lw != scale or hh - lh * scale >= scale or hw - lw * scale >= scale:
            raise VpipeError(f"{hr}: HR {hw}x{hh} is not an integer multiple of LR {lw}x{lh}")
        rel = hr.relative_to(root).parts
        name = rel[0] if len(rel) > 1 else root.name
        groups.setdefault((name, scale), []).append((hr, lr))
    if not groups:
        raise VpipeError(f"{root}: no *_HR.* / *_LR.* image pairs")
    # Set5 before Set14: numbers in names compare as numbers
    return dict(sorted(groups.items(), key=lambda item: (
        [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", item[0][0])], item[0][1])))


def image_size(path: Path) -> tuple[int, int]:
    from PIL import Image  # reads the header only

    try:
        with Image.open(path) as image:
            return image.size
    except OSError:
        raise VpipeError(f"{path}: not a readable image") from None


def read_image(path: Path) -> np.ndarray:
    """uint8 BGR, or HxW for a grey image (kept grey: its Y is itself)."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None or image.dtype != np.uint8:
        raise VpipeError(f"{path}: not a readable 8-bit image")
    return image[..., :3] if image.ndim == 3 else image


def paper_scores(sr: np.ndarray, hr: np.ndarray, scale: int) -> tuple[float, float]:
    """PSNR and SSIM on BT.601 Y with a `scale`-pixel border crop, as the SR papers score."""
    from skimage.metrics import structural_similarity

    a, b = y_bt601(sr)[scale:-scale, scale:-scale], y_bt601(hr)[scale:-scale, scale:-scale]
    # Wang et al.'s ssim.m, which the papers' SSIM columns use: 11x11 Gaussian window, sigma 1.5,
    # population covariance (scikit-image's defaults are a 7x7 box and sample covariance).
    ssim = structural_similarity(a, b, data_range=255.0, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False)
    return psnr(a, b), float(ssim)


def model_label(model: Path, scale: int) -> str:
    """srcnn_x3.onnx -> srcnn: one row per net across the scales."""
    stem = model.stem
    return stem[: -len(f"_x{scale}")] if stem.endswith(f"_x{scale}") else stem


def pairs_scores(root: Path, models: list[Path], device: str = "cpu", threads: int | None = None) -> list[dict]:
    """The papers' protocol on given HR/LR pairs: bicubic (MATLAB imresize of the LR) and each
    model whose factor matches, per set and scale; means over images of PSNR and SSIM."""
    from vpipe.engines import open_engine
    from vpipe.stages.upscale import Upscaler

    groups = find_pairs(root)
    upscalers: dict[int, list[tuple[str, Upscaler]]] = {}
    for model in models:
        engine = open_engine(model, device, threads)
        if engine.meta.task != "super_resolution":
            raise VpipeError(f"{model}: not a super-resolution model (task {engine.meta.task!r})")
        scale = engine.meta.sr_scale
        if not any(s == scale for _, s in groups):
            raise VpipeError(f"{model}: upscales x{scale}, but {root} has no x{scale} pairs")
        label = model_label(model, scale)
        if label in (name for name, _ in upscalers.get(scale, [])):
            label = str(model)  # two nets of one name: the path tells them apart
        upscalers.setdefault(scale, []).append((label, Upscaler(engine)))
    report = []
    for (name, scale), pairs in groups.items():
        methods = [("bicubic", None), *upscalers.get(scale, [])]
        per_image = {label: [] for label, _ in methods}
        for hr_path, lr_path in pairs:
            hr, lr = read_image(hr_path), read_image(lr_path)
            if hr.ndim != lr.ndim:
                raise VpipeError(f"{lr_path}: colour does not match {hr_path.name}")
            hr = hr[: lr.shape[0] * scale, : lr.shape[1] * scale]
            for label, upscaler in methods:
                if upscaler is None:
                    sr = imresize(lr, (hr.shape[1], hr.shape[0]))
                elif lr.ndim == 2:  # grey in, grey out: the net sees Y = grey, chroma stays neutral
                    sr = cv2.cvtColor(upscaler(cv2.cvtColor(lr, cv2.COLOR_GRAY2BGR)), cv2.COLOR_BGR2GRAY)
                else:
                    sr = upscaler(lr)
                p, s = paper_scores(sr, hr, scale)
                per_image[label].append({"image": hr_path.name, "psnr": round(p, 4), "ssim": round(s, 5)})
        rows = [{"method": label, "psnr": round(float(np.mean([r["psnr"] for r in per_image[label]])), 3),
                 "ssim": round(float(np.mean([r["ssim"] for r in per_image[label]])), 4),
                 "per_image": per_image[label]} for label, _ in methods]
        report.append({"set": name, "scale": scale, "pairs": len(pairs), "rows": rows})
    return report


def markdown_table(report: list[dict]) -> str:
    """Methods down, set x scale across, "PSNR / SSIM" in each cell: the README's table."""
    columns = [(g["set"], g["scale"]) for g in report]
    methods = list(dict.fromkeys(r["method"] for g in report for r in g["rows"]))
    cells = {(g["set"], g["scale"], r["method"]): f"{r['psnr']:.2f} / {r['ssim']:.4f}" for g in report for r in g["rows"]}
    lines = ["| method | " + " | ".join(f"{s} x{k}" for s, k in columns) + " |",
             "|---|" + "---|" * len(columns)]
    lines += [f"| {m} | " + " | ".join(cells.get((s, k, m), "") for s, k in columns) + " |" for m in methods]
    return "\n".join(lines)


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
    model: Annotated[Optional[list[Path]], typer.Option(help="super-resolution ONNX model (with --pairs: "
                                                        "repeat it; each runs on the pairs of its factor)")] = None,
    images: Annotated[Optional[Path], typer.Option(help="folder of high-resolution images, shrunk here")] = None,
    pairs: Annotated[Optional[Path], typer.Option(help="folder of given *_HR / *_LR pairs (e.g. sr-bench with "
                                                  "Set5/, Set14/): the SR papers' protocol")] = None,
    scale: Annotated[int, typer.Option(min=2, max=8, help="with --images (pairs give their own)")] = 3,
    device: Annotated[str, typer.Option()] = "cpu",
    threads: Annotated[Optional[int], typer.Option(min=1, help="ONNX Runtime threads (default: all cores)")] = None,
    degradation: Annotated[str, typer.Option(help="with --images, how the HR image is shrunk: imresize "
                                             "(antialiased bicubic, the literature's) or opencv (aliased)")] = "imresize",
    json_path: Annotated[Optional[Path], typer.Option("--json")] = None,
) -> None:
    """PSNR and SSIM (Y channel, border crop) beside bicubic: on photos shrunk here (--images), or
    on given pairs by the SR papers' protocol (--pairs), which prints the Set5/Set14 table."""
    models = model or []
    if (images is None) == (pairs is None):
        raise VpipeError("vpipe eval sr: give one of --images or --pairs")
    if pairs is not None:
        report = pairs_scores(pairs, models, device, threads)
        for group in report:
            typer.echo(f"{group['set']} x{group['scale']} ({group['pairs']} pairs)   PSNR dB   SSIM")
            base = group["rows"][0]["psnr"]
            for row in group["rows"]:
                gain = f"  ({row['psnr'] - base:+.2f})" if row["method"] != "bicubic" else ""
                typer.echo(f"  {row['method']:<20} {row['psnr']:8.2f}   {row['ssim']:.4f}{gain}")
        typer.echo("\n" + markdown_table(report))
        if json_path:
            json_path.write_text(json.dumps(report, indent=2) + "\n")
        return
    if len(models) != 1:
        raise VpipeError("vpipe eval sr --images: give exactly one --model")
    report = sr_scores(models[0], list_images(images), scale, device, degradation, threads)
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
                  complete: bool = False, params: dict | None = None, errors: Path | None = None) -> dict:
    """Recall at IoU 0.5, AP50, boxes per image and ms per image, with pycocotools' COCOeval
    (not a hand-rolled matcher). Detections of `model_class` are scored against `category`.
    `errors`: a folder to write a crop of every miss and every false box into (`save_errors`)."""
    import contextlib
    import io

    from pycocotools.coco import COCO

    from vpipe.pipeline.api.element import Context
    from vpipe.pipeline.api.frame import Frame
    from vpipe.stages.detect import Detect, DetectParams

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints as it loads
        gt = COCO(str(coco_json))
    categories = gt.loadCats(gt.getCatIds())
    if category is None:
        if len(categories) != 1:
            raise VpipeError(f"{coco_json}: {len(categories)} categories; choose one with --category")
        category = categories[0]["id"]
    detector = Detect(Context(name="eval", base_dir=Path.cwd(), engine_path=model, device=device),
                      DetectParams(threshold=threshold, **(params or {})))
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
    report = {"model": str(model), "images": len(counts), "threshold": threshold, "params": params,
              "boxes_per_image": round(float(np.mean(counts)), 3),
              "ms_per_image": round(1000 * seconds / max(1, len(counts)), 2)}
    report["ap50_meaningful"] = complete
    if results:
        evaluation = _evaluate(gt, results, category)
        report["recall"], report["ap50"] = round(float(evaluation.stats[8]), 4), round(float(evaluation.stats[0]), 4)
        # COCO's size classes, by box area: small under 32x32 px (a far plate), large over 96x96.
        report["recall_by_size"] = {size: round(float(value), 4) for size, value
                                    in zip(("small", "medium", "large"), evaluation.stats[9:12]) if value >= 0}
    else:  # COCOeval refuses an empty result list; with no box at all, every object is a miss
        report["recall"], report["ap50"] = 0.0, 0.0
    if errors is not None:
        found = matching_errors(evaluation) if results else [
            _miss(a) for a in gt.loadAnns(gt.getAnnIds(catIds=[category], iscrowd=False))]
        save_errors(found, gt, images, errors)
        report["misses"] = sum(e["kind"] == "miss" for e in found)
        report["false_boxes"] = sum(e["kind"] == "false" for e in found)
    return report


def _evaluate(gt, results: list[dict], category: int):
    """COCOeval at the single IoU 0.5, summarized: stats[8] is AR@100, stats[0] AP50."""
    import contextlib
    import io

    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints as it evaluates
        evaluation = COCOeval(gt, gt.loadRes(results), "bbox")
        evaluation.params.catIds = [category]
        evaluation.params.iouThrs = np.array([0.5])
        evaluation.params.maxDets = [1, 10, 100]
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation


def matching_errors(evaluation) -> list[dict]:
    """COCOeval's own matching at IoU 0.5 (all sizes, 100 boxes an image), read back: annotated
    objects no box matched (`miss`) and boxes that matched no object (`false`), as COCO boxes."""
    everywhere = evaluation.params.areaRng[0]
    found = []
    for record in evaluation.evalImgs:
        if record is None or record["aRng"] != everywhere:
            continue
        for gid, matched, ignored in zip(record["gtIds"], record["gtMatches"][0], record["gtIgnore"]):
            if not matched and not ignored:
                found.append(_miss(evaluation.cocoGt.anns[gid]))
        for did, matched, ignored, score in zip(record["dtIds"], record["dtMatches"][0],
                                                record["dtIgnore"][0], record["dtScores"]):
            if not matched and not ignored:
                found.append({"kind": "false", "image_id": int(record["image_id"]),
                              "bbox": [round(float(v), 1) for v in evaluation.cocoDt.anns[did]["bbox"]],
                              "score": round(float(score), 3)})
    return found


def _miss(annotation: dict) -> dict:
    """An annotated object no box matched, as `matching_errors` lists it."""
    return {"kind": "miss", "image_id": int(annotation["image_id"]), "bbox": [float(v) for v in annotation["bbox"]]}


def save_errors(found: list[dict], gt, images: Path, folder: Path) -> None:
    """A crop around each miss (green box) and false box (red), with as much context again on every
    side, named by kind, image and score; and errors.json listing them."""
    folder.mkdir(parents=True, exist_ok=True)
    for n, error in enumerate(found):
        info = gt.imgs[error["image_id"]]
        image = cv2.imread(str(images / info["file_name"]), cv2.IMREAD_COLOR)
        x, y, w, h = error["bbox"]
        mx, my = max(w, 24.0), max(h, 24.0)
        x0, y0 = int(max(x - mx, 0)), int(max(y - my, 0))
        crop = image[y0:int(y + h + my), x0:int(x + w + mx)].copy()
        color = (0, 200, 0) if error["kind"] == "miss" else (0, 0, 255)
        cv2.rectangle(crop, (int(x) - x0, int(y) - y0), (int(x + w) - x0, int(y + h) - y0), color, 1)
        score = f"_{error['score']:.2f}" if "score" in error else ""
        error["crop"] = f"{error['kind']}_{n:03d}{score}_{Path(info['file_name']).stem}.jpg"
        error["image"] = info["file_name"]
        cv2.imwrite(str(folder / error["crop"]), crop)
    (folder / "errors.json").write_text("[\n" + ",\n".join(json.dumps(e) for e in found) + "\n]\n")  # a line each


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
    params: Annotated[Optional[str], typer.Option(
        help="more of the detect stage's parameters, as JSON or YAML: '{tiles: {size: 512}, cascade: {classes: [vehicle]}}'")] = None,
    json_path: Annotated[Optional[Path], typer.Option("--json")] = None,
    errors: Annotated[Optional[Path], typer.Option(
        help="folder: a crop of every missed object and every false box, and errors.json (what to fix in training)")] = None,
) -> None:
    """Recall at IoU 0.5, AP50 (complete annotations only), boxes per image, ms per image."""
    if not coco.is_file():
        raise VpipeError(f"{coco}: annotations not found")
    if errors is not None and errors.is_dir() and any(errors.iterdir()):
        raise VpipeError(f"--errors: {errors} is not empty (its crops would mix with an earlier run's)")
    extra = None
    if params:
        import yaml
        from pydantic import ValidationError

        from vpipe.stages.detect import DetectParams

        extra = yaml.safe_load(params)
        if not isinstance(extra, dict):
            raise VpipeError(f"--params: a mapping of detect's parameters, not {params!r}")
        try:
            DetectParams(threshold=threshold, **extra)
        except ValidationError as exc:
            error = exc.errors()[0]
            raise VpipeError(f"--params: {'.'.join(map(str, error['loc']))}: {error['msg']}") from None
    report = detect_scores(model, coco, images, model_class, category, threshold, device, complete, extra, errors)
    ap = f"AP50 {report['ap50']:.3f}" if complete else "AP50 n/a (annotations incomplete)"
    typer.echo(f"{report['images']} images: recall@0.5 {report['recall']:.3f}, {ap}, "
               f"{report['boxes_per_image']:.2f} boxes per image, {report['ms_per_image']:.1f} ms per image")
    if report.get("recall_by_size"):
        typer.echo("recall@0.5 by box area (COCO: small < 32x32 px < medium < 96x96 px < large): "
                   + ", ".join(f"{size} {value:.3f}" for size, value in report["recall_by_size"].items()))
    if errors is not None and "misses" in report:
        unannotated = "" if complete else " (some may be objects left unannotated)"
        typer.echo(f"{report['misses']} missed, {report['false_boxes']} false boxes{unannotated}: crops in {errors}")
    if json_path:
        json_path.write_text(json.dumps(report, indent=2) + "\n")
