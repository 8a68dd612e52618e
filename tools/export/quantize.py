"""Reduced precision for an exported ONNX model: int8 static (QDQ) and fp16, with the accuracy cost.

- int8: `onnxruntime.quantization.quantize_static` in QDQ format, symmetric int8 activations and
  per-channel weights (the explicit quantization TensorRT builds from), calibrated on a folder
  of images preprocessed exactly as the runtime will, from the model's own metadata.
- fp16: `onnxconverter_common.float16` with float32 inputs/outputs kept.
Both report how far the result moved from the fp32 model: PSNR (SR), box agreement (detectors),
mIoU agreement (segmentation). No torch here.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from vpipe.engines.metadata import ModelMeta
from vpipe.pipeline.api.media import IMAGE_SUFFIXES
from vpipe.pipeline.api.paths import sha256_file
from vpipe.tools.export.errors import ExportError
from vpipe.tools.export.metadata import write_meta

#: a side for SR calibration crops (SR graphs take any size; calibrate on a typical patch).
SR_PATCH = 128
#: operators quantized; box math, NMS and resizes stay float so coordinates keep their precision.
QUANTIZED_OPS = ["Conv", "ConvTranspose", "Gemm", "MatMul"]
#: ops kept fp32 by --fp16 (ORT CPU lacks fp16 kernels for them, or their coordinates need fp32).
FP16_BLOCK = ["NonMaxSuppression", "RoiAlign", "TopK", "Resize", "ReduceMax", "Range", "Upsample"]


def list_images(folder: str | Path, limit: int | None = None) -> list[Path]:
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ExportError(f"--calib {folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return files[:limit] if limit else files


def preprocess(image_bgr: np.ndarray, meta: ModelMeta) -> np.ndarray:
    """One BGR uint8 frame -> the network's [C,H,W] float32 input, as the runtime prepares it."""
    import cv2

    img = image_bgr
    if meta.task == "super_resolution":
        img = _sr_input(img, meta)
    elif meta.input_size:
        h, w = meta.input_size
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    if meta.color == "rgb":
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif meta.color == "y":
        img = cv2.cvtColor(img, cv2.COLOR_BGR2YCrCb)[..., :1]
    x = img.astype(np.float32) / meta.scale
    x = (x - np.asarray(meta.mean, np.float32)) / np.asarray(meta.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def _sr_input(img: np.ndarray, meta: ModelMeta) -> np.ndarray:
    """A centre crop, downscaled by sr_scale; bicubic back up where the model expects that (SRCNN)."""
    import cv2

    side = SR_PATCH * meta.sr_scale
    if min(img.shape[:2]) < side:
        img = cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA)
    y0, x0 = (img.shape[0] - side) // 2, (img.shape[1] - side) // 2
    crop = img[y0:y0 + side, x0:x0 + side]
    small = cv2.resize(crop, (SR_PATCH, SR_PATCH), interpolation=cv2.INTER_AREA)
    if meta.extra.get("vpipe.pre_upsample") == "bicubic":
        return cv2.resize(small, (side, side), interpolation=cv2.INTER_CUBIC)
    return small


def load_batches(model_path: str | Path, folder: str | Path, limit: int | None = None) -> Iterator[dict[str, np.ndarray]]:
    """Feeds for `model_path` from the images in `folder`, batched to the model's batch size."""
    import cv2
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    meta = ModelMeta.from_props({p.key: p.value for p in model.metadata_props})
    graph_input = model.graph.input[0]
    dim0 = graph_input.type.tensor_type.shape.dim[0]
    batch = dim0.dim_value if dim0.HasField("dim_value") else 1
    files = list_images(folder, limit)
    arrays = []
    for path in files:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ExportError(f"--calib {path}: not a readable image")
        arrays.append(preprocess(image, meta))
    for i in range(0, len(arrays), batch):
        chunk = arrays[i:i + batch]
        chunk += arrays[: batch - len(chunk)]  # pad the last batch by reusing the first images
        yield {graph_input.name: np.stack(chunk)}


def quantize_int8(fp32_path: str | Path, out: str | Path, calib: str | Path, log: Callable = print,
                  limit: int = 64) -> dict[str, float]:
    """Static QDQ int8 of `fp32_path` into `out`, calibrated on `calib`; returns the accuracy change."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(list(load_batches(fp32_path, calib, limit)))

        def get_next(self):
            return next(self.batches, None)

    fp32_path, out = Path(fp32_path), Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        try:
            # Shape inference + graph cleanup first, as the ORT quantization guide recommends.
            quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        except Exception:
            shutil.copy(fp32_path, prepared)  # e.g. graphs with custom plugins: quantize as is
        quantize_static(
            str(prepared),
            str(out),
            Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=QUANTIZED_OPS,
            # TensorRT takes only symmetric int8 scales (zero point 0).
            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
        )
    _copy_meta(fp32_path, out, precision="int8")
    accuracy = compare(fp32_path, out, calib, limit=16)
    log("int8 vs fp32: " + ", ".join(f"{k}={v:.4g}" for k, v in accuracy.items()))
    return accuracy


def convert_fp16(fp32_path: str | Path, out: str | Path, calib: str | Path | None = None,
                 log: Callable = print) -> dict[str, float]:
    """fp16 weights and math with float32 IO; accuracy vs fp32 measured when `calib` is given."""
    import onnx
    from onnxconverter_common import float16

    model = onnx.load(str(fp32_path))
    block = list(float16.DEFAULT_OP_BLOCK_LIST) + FP16_BLOCK
    half = float16.convert_float_to_float16(model, keep_io_types=True, op_block_list=block)
    onnx.save(half, str(out))
    _copy_meta(fp32_path, out, precision="fp16")
    if not calib:
        return {}
    accuracy = compare(fp32_path, out, calib, limit=16)
    log("fp16 vs fp32: " + ", ".join(f"{k}={v:.4g}" for k, v in accuracy.items()))
    return accuracy


def _copy_meta(src: Path, dst: Path, precision: str) -> None:
    import onnx

    model = onnx.load(str(src), load_external_data=False)
    meta = ModelMeta.from_props({p.key: p.value for p in model.metadata_props})
    write_meta(dst, meta, extra={"vpipe.precision": precision, "vpipe.fp32_sha256": sha256_file(src)})


def compare(ref_path: str | Path, test_path: str | Path, images: str | Path, limit: int = 16,
            top: int = 20) -> dict[str, float]:
    """How far `test_path` strays from `ref_path` on `images`, by the model's task."""
    import onnxruntime as ort

    from vpipe.tools.export import parity as P

    ref = ort.InferenceSession(str(ref_path), providers=["CPUExecutionProvider"])
    test = ort.InferenceSession(str(test_path), providers=["CPUExecutionProvider"])
    meta = ModelMeta.from_props(ref.get_modelmeta().custom_metadata_map)
    names = [o.name for o in ref.get_outputs()]
    scores: list[float] = []
    ious: list[float] = []
    for feeds in load_batches(ref_path, images, limit):
        a = dict(zip(names, ref.run(names, feeds)))
        b = dict(zip(names, test.run(names, feeds)))
        if meta.task == "super_resolution":
            scores.append(P.psnr(np.clip(a["output"], 0, 1), np.clip(b["output"], 0, 1)))
        elif meta.task == "segment":
            n = a["out"].shape[1]
            for i in range(len(a["out"])):
                scores.append(P.miou(a["out"][i].argmax(0), b["out"][i].argmax(0), n))
        else:
            for ra, rb in _detections(meta.decoder, a, b, top):
                agreement = P.match_boxes(ra, rb)
                # Recall of the reference's top boxes by the test model's boxes.
                scores.append(agreement.matches / agreement.n_ref if agreement.n_ref else 1.0)
                ious.append(agreement.mean_iou)
    if meta.task == "super_resolution":
        return {"psnr_db": float(np.mean(scores))}
    if meta.task == "segment":
        return {"miou_agreement": float(np.mean(scores))}
    return {"box_agreement": float(np.mean(scores)), "mean_iou": float(np.mean(ious))}


def _detections(decoder: str, a: dict, b: dict, top: int):
    """(reference top-k, all test boxes) per image, as (boxes, scores, labels)."""
    from vpipe.tools.export import parity as P

    if decoder == "torchvision":
        ref = tuple(a[k] for k in ("boxes", "scores", "labels"))
        keep = np.argsort(-ref[1])[:top]
        yield tuple(v[keep] for v in ref), tuple(b[k] for k in ("boxes", "scores", "labels"))
    elif decoder == "nms":
        for i in range(len(a["det_boxes"])):
            ref = P.nms_rows(a["num_dets"], a["det_boxes"], a["det_scores"], a["det_classes"], i)
            out = P.nms_rows(b["num_dets"], b["det_boxes"], b["det_scores"], b["det_classes"], i)
            yield tuple(v[:top] for v in ref), out
    else:  # raw: best class per box, top-k boxes of each
        for i in range(len(a["boxes"])):
            yield _top_raw(a["boxes"][i], a["scores"][i], top), _top_raw(b["boxes"][i], b["scores"][i], 4 * top)


def _top_raw(boxes: np.ndarray, scores: np.ndarray, k: int):
    labels = scores[:, 1:].argmax(1) + 1
    best = scores[np.arange(len(scores)), labels]
    keep = np.argsort(-best)[:k]
    return boxes[keep], best[keep], labels[keep]
