"""Shared fixtures. Data beside the project (../shared/data) is optional: tests that need it skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VPIPE_SHARED_DATA", ROOT.parent / "shared" / "data"))
SAMPLE = ROOT / "samples" / "roadview.mp4"
CENTERFACE = ROOT / "models" / "centerface.onnx"
FIXTURES = Path(__file__).parent / "fixtures"


def shared_file(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"{path} is absent (evaluation data lives in ../shared/data beside the repo)")
    return path


@pytest.fixture
def vtest() -> Path:
    return shared_file("video/vtest.avi")


def write_config(tmp_path: Path, text: str, name: str = "graph.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text.replace("{ROOT}", str(ROOT)))
    return path
