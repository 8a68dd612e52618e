"""Every shipped model is listed in the manifest with its real hash, source and licence."""

import hashlib
import json
from pathlib import Path

MODELS = Path(__file__).resolve().parents[1] / "models"


def test_manifest_matches_the_files():
    manifest = json.loads((MODELS / "manifest.json").read_text())["models"]
    listed = {m["file"] for m in manifest}
    assert listed == {p.name for p in MODELS.glob("*.onnx")}
    for entry in manifest:
        digest = hashlib.sha256((MODELS / entry["file"]).read_bytes()).hexdigest()
        assert digest == entry["sha256"], entry["file"]
        for key in ("source", "recipe", "licence", "architecture"):
            assert entry[key]
