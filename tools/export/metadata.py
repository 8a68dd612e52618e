"""The vpipe metadata of an exported ONNX file (`vpipe.engines.metadata.ModelMeta`); the checksum
that ties a file to the weights or graph it was made from is vpipe.pipeline.api.paths.sha256_file."""

from __future__ import annotations

from pathlib import Path

from vpipe.engines.metadata import ModelMeta
from vpipe.pipeline import __version__

EXPORTER = f"vpipe-export {__version__}"


def write_meta(path: str | Path, meta: ModelMeta, extra: dict[str, str] | None = None) -> None:
    """Replace the model's metadata_props with `meta` (plus `extra`), keeping foreign keys."""
    import onnx

    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props if not p.key.startswith("vpipe.")}
    props.update(meta.to_props())
    props.update(extra or {})
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)
    model.producer_name = EXPORTER.split()[0]
    onnx.save(model, str(path))
