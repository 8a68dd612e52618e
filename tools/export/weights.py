"""The torch model of an export: a family built with a local checkpoint, torchvision's weights, or
random weights made to give outputs a parity check can tell apart. torch is imported inside
functions only.
"""

from __future__ import annotations

from pathlib import Path

from vpipe.pipeline.api.errors import first_line
from vpipe.pipeline.api.paths import sha256_file
from vpipe.tools.export.errors import ExportError
from vpipe.tools.export.families import Family
from vpipe.tools.export.kinds import kind_of


def torchvision_categories(family: Family) -> list[str]:
    from torchvision.models import get_model_weights

    try:
        return list(get_model_weights(family.name).DEFAULT.meta["categories"])
    except (ValueError, KeyError):  # a family of our own (tools/models/detectors.py): no torchvision weights
        return ["__background__", *[f"class_{i}" for i in range(1, family.num_classes)]]


def load_model(family: Family, weights: str | None, random_init: bool, num_classes: int, sr_scale: int):
    """Build the family's torch model; returns (model, weights sha256, torchvision weights meta)."""
    import torch

    if random_init:
        if weights:
            raise ExportError("--weights and --random-init exclude each other; pass one")
        torch.manual_seed(0)
        model = family.build(num_classes, None, sr_scale)
        _spread_init(model)
        return model.eval(), "random-init", None
    if not weights:
        raise ExportError("--weights FILE|TORCHVISION_NAME is required (or --random-init for a test model)")
    path = Path(weights).expanduser()
    if path.is_file():
        return _load_checkpoint(family, path, num_classes, sr_scale), sha256_file(path), None
    if not kind_of(family).torchvision_weights or "_Weights." not in weights:
        raise ExportError(f"--weights {weights}: no such file")
    return _load_torchvision(family, weights, num_classes)


def _spread_init(model) -> None:
    """Re-initialize so a random model's outputs vary from pixel to pixel and class to class.

    torchvision's own init of a detector without pretrained backbone gives near-constant scores
    (every box at 1/num_classes), which a parity check could not tell from a broken export.
    """
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                if module.bias is not None:
                    module.bias.copy_(torch.rand(module.bias.shape, generator=gen) * 0.2 - 0.1)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.weight.fill_(1.0)
                module.bias.copy_(torch.rand(module.bias.shape, generator=gen) * 0.2 - 0.1)
                module.running_mean.zero_()
                module.running_var.fill_(1.0)


def calibrate_random_model(wrapper, example) -> None:
    """Make a random model's activations well scaled with one forward pass (data-dependent init).

    Each Conv/Linear is rescaled on its first call so its output has unit spread (LSUV-style), and
    BatchNorm statistics are taken from the same pass. Without it deep random nets saturate: scores
    tie at 0 or 1 and a parity check could not tell a broken export from noise.
    """
    import torch
    from torch import nn

    norms = [m for m in wrapper.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: one pass sets the statistics exactly
        m.train()
    seen: set[int] = set()

    def rescale(module, _inputs, output):
        if id(module) in seen or not isinstance(output, torch.Tensor):
            return None
        seen.add(id(module))  # heads shared across pyramid levels are scaled once
        std = float(output.std())
        if not std > 1e-6:
            return None
        module.weight.div_(std)
        if module.bias is not None:
            module.bias.div_(std)
        return output / std

    hooks = [m.register_forward_hook(rescale) for m in wrapper.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            wrapper(example)
    finally:
        for h in hooks:
            h.remove()
    for m in norms:
        m.eval()


def _load_checkpoint(family: Family, path: Path, num_classes: int, sr_scale: int):
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ExportError(f"--weights {path}: not a loadable torch checkpoint ({first_line(exc)})") from None
    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ExportError(f"--weights {path}: expected a state_dict, got {type(state).__name__}")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    model = family.build(num_classes, None, sr_scale)
    own = model.state_dict()
    # Segmentation checkpoints carry the training-only aux head; the export drops it.
    state = {k: v for k, v in state.items() if not (k.startswith("aux_classifier.") and k not in own)}
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        what = (f"{len(missing)} missing (e.g. {missing[0]})" if missing else
                f"{len(unexpected)} unexpected (e.g. {unexpected[0]})" if unexpected else
                f"{len(wrong)} of another shape (e.g. {wrong[0]}; check --num-classes)")
        raise ExportError(f"--weights {path}: does not fit {family.name}: {what} tensors")
    model.load_state_dict(state)
    return model.eval()


def _load_torchvision(family: Family, name: str, num_classes: int):
    import torch
    from torchvision.models import get_weight

    try:
        enum = get_weight(name)
    except Exception:
        raise ExportError(f"--weights {name}: neither a file nor a torchvision weights name") from None
    try:
        model = family.build(num_classes, enum).eval()
    except Exception as exc:
        if isinstance(exc, ValueError) and "num_classes" in str(exc):
            raise ExportError(f"--weights {name}: {first_line(exc)}") from None
        raise ExportError(
            f"--weights {name}: could not download it ({first_line(exc)}); offline, download "
            f"{enum.url} elsewhere and pass the file with --weights PATH"
        ) from None
    file = Path(torch.hub.get_dir()) / "checkpoints" / Path(enum.url).name
    sha = sha256_file(file) if file.is_file() else ""
    return model, sha, dict(enum.meta)
