"""The JSON Schema of a config file, for editors (completion, hover text, checks as you type):
the structure of pipeline/runtime/config.py, with each element's `params` chosen by its `type` (or a
source's `kind`) from the element's own Params model, as the graph validates them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from vpipe.pipeline.api.registry import ELEMENTS, SOURCES, load_elements
from vpipe.pipeline.runtime.config import PipelineSpec


def config_schema() -> dict[str, Any]:
    load_elements()
    stages = {name: cls.Params for name, cls in ELEMENTS.items() if cls.role == "stage"}
    sinks = {name: cls.Params for name, cls in ELEMENTS.items() if cls.role == "sink"}
    sources = {name: cls.Params for name, cls in SOURCES.items()}
    models: list[type[BaseModel]] = list(dict.fromkeys([PipelineSpec, *stages.values(), *sinks.values(), *sources.values()]))
    refs, schema = models_json_schema([(m, "validation") for m in models], ref_template="#/$defs/{model}")

    def ref(model) -> dict:
        return refs[(model, "validation")]

    root = dict(schema["$defs"][ref(PipelineSpec)["$ref"].split("/")[-1]])
    root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    root["title"] = "vpipe pipeline config"
    root["$defs"] = schema["$defs"]
    properties = root["properties"] = dict(root["properties"])
    properties["stages"] = {**properties["stages"], "items": _by_name("NodeSpec", "type", stages, ref)}
    properties["sinks"] = {**properties["sinks"], "items": _by_name("NodeSpec", "type", sinks, ref)}
    # kind: auto (or none) leaves params to whichever source takes the uri, known only at build.
    auto = {"properties": {"kind": {"const": "auto"}}}
    properties["sources"] = {**properties["sources"], "items": _by_name("SourceSpec", "kind", sources, ref, auto)}
    return root


def _by_name(node: str, key: str, params: dict[str, type], ref, *more: dict) -> dict:
    """A node's structure (`node` in $defs), and one choice per element: `key` names it, and
    `params` is then its Params."""
    choices = [{"properties": {key: {"const": name}, "params": ref(model)}, "required": [key]}
               for name, model in sorted(params.items())]
    return {"allOf": [{"$ref": f"#/$defs/{node}"}, {"oneOf": choices + list(more)}]}
