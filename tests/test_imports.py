"""Imports go one way: pipeline (the framework) <- engines <- stages (the elements) <- tools.

The checker reads the source (every import, at module level or inside a function), so it also
sees what a test run would never import; importlib by string (the entry points) is not an import.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: a package may import only packages of a lower layer.
LAYERS = {"pipeline": 0, "engines": 1, "stages": 2, "tools": 3}
RUNTIME = ("pipeline", "engines", "stages")
#: never in the runtime: torch is the [export] extra's, for tools/ only.
TOOLS_ONLY = ("torch", "torchvision")


def imports_of(root: Path, package: str) -> list[tuple[str, str]]:
    """(module path, imported module) for every import statement in `root/package`."""
    found = []
    for path in sorted((root / package).rglob("*.py")):
        where = str(path.relative_to(root))
        for node in ast.walk(ast.parse(path.read_text(), where)):
            if isinstance(node, ast.Import):
                found += [(where, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.append((where, node.module))
    return found


def problems(root: Path, layers: dict[str, int], runtime=RUNTIME) -> list[str]:
    """One line per import that goes the wrong way, per cycle between packages, per torch import
    in the runtime."""
    lines, edges = [], {package: set() for package in layers}
    for package in layers:
        for where, module in imports_of(root, package):
            parts = module.split(".")
            target = parts[1] if parts[0] == "vpipe" and len(parts) > 1 else None
            if target in layers and target != package:
                edges[package].add(target)
                if layers[target] > layers[package]:
                    lines.append(f"{where} imports {module}: {package} may not import {target}")
            if package in runtime and parts[0] in TOOLS_ONLY:
                lines.append(f"{where} imports {module}: the runtime never imports {parts[0]}")
    return lines + [f"import cycle: {' -> '.join(cycle)}" for cycle in _cycles(edges)]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == "visiting":
            cycles.append(path[path.index(node):] + [node])
            return
        if state.get(node) == "done":
            return
        state[node] = "visiting"
        for nxt in sorted(edges[node]):
            visit(nxt, path + [node])
        state[node] = "done"

    for node in sorted(edges):
        visit(node, [])
    return cycles


def test_imports_go_one_way():
    assert problems(ROOT, LAYERS) == []


def test_every_installed_package_has_a_layer():
    package_dir = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    assert sorted(package_dir.values()) == sorted(LAYERS)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_checker_finds_wrong_way_imports_cycles_and_torch(tmp_path):
    root = _tree(tmp_path, {
        "pipeline/graph.py": "def build():\n    from vpipe.stages.video import VideoSink\n",
        "stages/video.py": "import torch\nfrom vpipe.pipeline.graph import build\n",
        "tools/export.py": "import torch\nfrom vpipe.stages import video\n",
    })
    found = problems(root, {"pipeline": 0, "stages": 1, "tools": 2})
    assert found == [
        "pipeline/graph.py imports vpipe.stages.video: pipeline may not import stages",
        "stages/video.py imports torch: the runtime never imports torch",
        "import cycle: pipeline -> stages -> pipeline",
    ]


def test_a_clean_tree_passes(tmp_path):
    root = _tree(tmp_path, {"pipeline/graph.py": "import numpy\n",
                            "stages/video.py": "from vpipe.pipeline import graph\n"})
    assert problems(root, {"pipeline": 0, "stages": 1}) == []


#: distribution name -> the module it installs, where the two differ.
MODULE_OF = {"opencv-python": "cv2", "pyyaml": "yaml"}


def declared_modules(pyproject: Path) -> set[str]:
    """The modules the runtime's own dependencies (not the extras) install."""
    names = set()
    for requirement in tomllib.loads(pyproject.read_text())["project"]["dependencies"]:
        dist = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()
        names.add(MODULE_OF.get(dist, dist.replace("-", "_")))
    return names


def eager_imports(path: Path) -> list[str]:
    """Modules a file imports when it is imported: not inside a function, and not in a `try`
    that handles ImportError (an optional module, said so in one line)."""
    found = []

    def visit(nodes) -> None:
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if isinstance(node, ast.Import):
                found.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.append(node.module)
            elif isinstance(node, ast.Try) and any("ImportError" in ast.unparse(h.type or ast.Name("")) for h in node.handlers):
                continue
            else:
                visit(ast.iter_child_nodes(node))

    visit(ast.parse(path.read_text(), str(path)).body)
    return found


#: runtime modules that are themselves imported only inside a function, when asked for (a
#: `.engine` file): they may import their optional library at the top.
BACKENDS = {"engines/tensorrt.py"}


def undeclared(root: Path, runtime=RUNTIME, backends=BACKENDS) -> list[str]:
    """One line per eager import in the runtime of a module that its dependencies do not install
    (an edge box installs those and nothing else; every built-in element is imported at start),
    and per eager import of a back-end module."""
    allowed = declared_modules(root / "pyproject.toml") | set(sys.stdlib_module_names) | {"vpipe", "__future__"}
    backend_modules = {"vpipe." + name[:-3].replace("/", ".") for name in backends}
    lines = []
    for package in runtime:
        for path in sorted((root / package).rglob("*.py")):
            where = str(path.relative_to(root))
            for module in eager_imports(path):
                if module in backend_modules:
                    lines.append(f"{where} imports {module} at the top; import it where it is needed")
                elif module.split(".")[0] not in allowed and where not in backends:
                    lines.append(f"{where} imports {module.split('.')[0]}, which is not among the runtime's dependencies")
    return lines


def test_the_runtime_imports_only_its_declared_dependencies():
    assert undeclared(ROOT) == []


def test_the_dependency_check_finds_an_undeclared_import(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["numpy>=1", "opencv-python>=4"]\n')
    root = _tree(tmp_path, {"pipeline/a.py": "import numpy, cv2\nimport click.core\n",
                            "stages/b.py": "def f():\n    import paho.mqtt\ntry:\n    import ray\nexcept ImportError:\n    ray = None\n",
                            "stages/trt.py": "import tensorrt\n",
                            "stages/c.py": "from vpipe.stages.trt import x\n"})
    assert undeclared(root, ("pipeline", "stages"), {"stages/trt.py"}) == [
        "pipeline/a.py imports click, which is not among the runtime's dependencies",
        "stages/c.py imports vpipe.stages.trt at the top; import it where it is needed"]


def test_running_a_pipeline_imports_no_tool():
    """`vpipe validate` (the CLI, the graph, every built-in element) never imports vpipe.tools;
    the commands from tools are still listed by `vpipe --help`."""
    code = ("import sys\nfrom vpipe.pipeline.cli import app\nimport typer.main\n"
            "group = typer.main.get_command(app)\n"
            "from vpipe.pipeline.config import load_config\nfrom vpipe.pipeline.graph import build_graph\n"
            f"build_graph(load_config({str(ROOT / 'configs' / 'roadview.yaml')!r})).close()\n"
            "print(sorted(m for m in sys.modules if m.startswith('vpipe.tools') or m.split('.')[0] in ('torch', 'torchvision')))\n"
            "print(sorted(group.list_commands(None)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded, commands = done.stdout.splitlines()
    assert loaded == "[]"
    assert all(name in commands for name in ("'run'", "'export'", "'build'", "'eval'"))


def test_the_version_is_written_once():
    """pyproject.toml holds it; the package reads it from the installed metadata."""
    from vpipe.pipeline import __version__

    assert __version__ == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_fast_tier_collects_without_torch_or_ray(request):
    """The export and ray tests import torch and ray at module level; the fast tier does not
    even import those modules (conftest.pytest_ignore_collect)."""
    from conftest import _may_select, collected_heavy

    markexpr = request.config.getoption("markexpr")
    if not markexpr or _may_select(markexpr, "export") or _may_select(markexpr, "slow"):
        pytest.skip("the fast tier's check: the other tiers import torch and ray")
    if any(arg.partition("::")[0].endswith(".py") for arg in request.config.args):
        pytest.skip("modules named on the command line are imported whatever their tier")
    assert collected_heavy == []
