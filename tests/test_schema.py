"""`vpipe schema`: the JSON Schema editors use to complete and check configs, each element's
params chosen by its type."""

import json
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from vpipe.pipeline.apps import cli
from vpipe.pipeline.runtime.schema import config_schema

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = sorted((ROOT / "configs").glob("*.yaml"))


@pytest.fixture(scope="module")
def validator():
    schema = config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_bundled_configs_validate_against_the_schema(validator, path):
    assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == []


BASE = {"sources": [{"uri": "in.mp4"}], "sinks": [{"type": "jsonl", "params": {"path": "a.jsonl"}}]}


@pytest.mark.parametrize("change", [
    {"stages": [{"type": "anonymize", "params": {"methd": "blur"}}]},      # a misspelt parameter
    {"stages": [{"type": "anonymize", "params": {"method": "smudge"}}]},   # a value not allowed
    {"stages": [{"type": "no_such_stage"}]},                               # an unknown type
    {"sinks": [{"type": "anonymize"}]},                                    # a stage where a sink goes
    {"sources": [{"uri": "rtsp://cam", "kind": "rtsp", "params": {"reconnect": {"max_attempts": 0}}}]},
])
def test_the_schema_refuses_what_the_graph_refuses(validator, change):
    assert list(validator.iter_errors({**BASE, **change}))


def test_vpipe_schema_writes_the_file(tmp_path, monkeypatch, capsys):
    out = tmp_path / "vpipe.schema.json"
    monkeypatch.setattr(sys, "argv", ["vpipe", "schema", "-o", str(out)])
    cli.main()
    written = json.loads(out.read_text())
    assert written["title"] == "vpipe pipeline config" and "AnonymizeParams" in written["$defs"]
