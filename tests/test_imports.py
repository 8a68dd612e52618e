"""Imports go one way: pipeline (the framework) <- engines <- stages (the elements) <- tools.

Inside pipeline/ too: api (the plugin API and data model) <- runtime <- verify <- apps, and what
sits above pipeline (engines, stages, tools) imports only its plugin API. No package holds an
import cycle among its modules.

The checker reads the source (every import, at module level or inside a function, absolute or
relative), so it also sees what a test run would never import; importlib by string (the entry
points) is not an import.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
#: a package may import only packages of a lower layer.
LAYERS = {"pipeline": 0, "engines": 1, "stages": 2, "tools": 3}
#: the same rule between pipeline's subpackages; `vpipe.pipeline` itself re-exports the API.
PIPELINE_LAYERS = {"api": 0, "runtime": 1, "verify": 2, "apps": 3}
#: all that a package above pipeline may import of it: the plugin API.
PLUGIN_API = ("vpipe.pipeline", "vpipe.pipeline.api")
RUNTIME = ("pipeline", "engines", "stages")
#: never in the runtime: torch is the [export] extra's, for tools/ only.
TOOLS_ONLY = ("torch", "torchvision")


def module_name(where: str) -> str:
    """`pipeline/api/frame.py` -> `vpipe.pipeline.api.frame` (a package's `__init__.py` -> the package)."""
    parts = where[:-3].split("/")
    return ".".join(["vpipe", *(parts[:-1] if parts[-1] == "__init__" else parts)])


def imported(where: str, node: ast.Import | ast.ImportFrom, modules: set[str]) -> list[str]:
    """The modules an import statement of `where` names, relative ones made absolute: for
    `from P import x`, P.x where that is one of `modules`, else P."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module_name(where).split(".")
        if not where.endswith("__init__.py"):
            package = package[:-1]
        package = package[:len(package) - node.level + 1]
        base = ".".join(package + ([node.module] if node.module else []))
    named = [f"{base}.{alias.name}" for alias in node.names]
    return [name for name in named if name in modules] or [base]


def modules_in(root: Path, packages) -> set[str]:
    return {module_name(str(path.relative_to(root))) for package in packages for path in (root / package).rglob("*.py")}


def imports_of(root: Path, package: str, eager_only: bool = False, modules: set[str] = frozenset()) -> list[tuple[str, str]]:
    """(module path, imported module) for every import statement in `root/package` (`modules`:
    those that `from P import x` may name); with `eager_only`, only those run when the module is
    imported (not in a function, not under `if TYPE_CHECKING:`)."""
    found = []
    for path in sorted((root / package).rglob("*.py")):
        where = str(path.relative_to(root))

        def visit(nodes, where: str = where) -> None:  # called at once, in this iteration
            for node in nodes:
                if eager_only and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    continue
                if eager_only and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                    visit(node.orelse)
                    continue
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    found.extend((where, module) for module in imported(where, node, modules))
                visit(ast.iter_child_nodes(node))

        visit(ast.parse(path.read_text(), where).body)
    return found


def pipeline_layer(module: str) -> int:
    """The layer of a `vpipe.pipeline...` module: its subpackage's (the package itself is the API's)."""
    parts = module.split(".")
    return PIPELINE_LAYERS.get(parts[2], 0) if len(parts) > 2 else 0


def problems(root: Path, layers: dict[str, int], runtime=RUNTIME) -> list[str]:
    """One line per import that goes the wrong way (between packages, between pipeline's layers,
    past pipeline's plugin API), per cycle between packages, per torch import in the runtime."""
    lines, edges, modules = [], {package: set() for package in layers}, modules_in(root, layers)
    for package in layers:
        for where, module in imports_of(root, package, modules=modules):
            parts = module.split(".")
            target = parts[1] if parts[0] == "vpipe" and len(parts) > 1 else None
            if target in layers and target != package:
                edges[package].add(target)
                if layers[target] > layers[package]:
                    lines.append(f"{where} imports {module}: {package} may not import {target}")
            if target == "pipeline" and package == "pipeline":
                if pipeline_layer(module) > pipeline_layer(module_name(where)):
                    lines.append(f"{where} imports {module}: {'.'.join(module_name(where).split('.')[:3])} "
                                 f"may not import {'.'.join(parts[:3])}")
            elif target == "pipeline" and ".".join(parts[:3]) not in PLUGIN_API:
                lines.append(f"{where} imports {module}: {package} imports only the plugin API, vpipe.pipeline.api")
            if package in runtime and parts[0] in TOOLS_ONLY:
                lines.append(f"{where} imports {module}: the runtime never imports {parts[0]}")
    return (lines + [f"import cycle: {' -> '.join(cycle)}" for cycle in _cycles(edges)]
            + [f"import cycle in {package}/: {' -> '.join(cycle)}" for package in layers
               for cycle in _cycles(module_edges(root, package))])


def module_edges(root: Path, package: str) -> dict[str, set[str]]:
    """Between the modules of a package: which one imports which when it is imported."""
    modules = modules_in(root, [package])
    edges = {module: set() for module in modules}
    for where, module in imports_of(root, package, eager_only=True, modules=modules):
        if module in modules and module != module_name(where):
            edges[module_name(where)].add(module)
    return edges


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
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert sorted(setuptools["package-dir"].values()) == sorted(LAYERS)
    subpackages = {"vpipe." + str(path.parent.relative_to(ROOT)).replace("/", ".")
                   for package in LAYERS for path in (ROOT / package).rglob("__init__.py")}
    assert sorted(subpackages) == sorted(setuptools["packages"]), "pyproject lists every (sub)package"
    assert sorted(path.name for path in (ROOT / "pipeline").iterdir() if path.is_dir() and path.name != "__pycache__") \
        == sorted(PIPELINE_LAYERS)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_checker_finds_wrong_way_imports_cycles_and_torch(tmp_path):
    root = _tree(tmp_path, {
        "pipeline/runtime/graph.py": "def build():\n    from vpipe.stages.video import VideoSink\n",
        "stages/video.py": "import torch\nfrom vpipe.pipeline.api.element import Sink\n",
        "tools/export/exporter.py": "import torch\nfrom vpipe.stages import video\n",
    })
    found = problems(root, {"pipeline": 0, "stages": 1, "tools": 2})
    assert found == [
        "pipeline/runtime/graph.py imports vpipe.stages.video: pipeline may not import stages",
        "stages/video.py imports torch: the runtime never imports torch",
        "import cycle: pipeline -> stages -> pipeline",
    ]


def test_the_checker_sees_relative_imports_layers_and_cycles_in_a_package(tmp_path):
    root = _tree(tmp_path, {
        "pipeline/__init__.py": "from vpipe.pipeline.api.frame import Frame\n",
        "pipeline/api/frame.py": "def show():\n    from ..apps import cli\n",
        "pipeline/runtime/graph.py": "from . import runner\nfrom ...stages import video\n",
        "pipeline/runtime/runner.py": "from .graph import build\nfrom vpipe.pipeline.api import frame\n",
        "pipeline/apps/cli.py": "from vpipe.pipeline.runtime import graph\nfrom vpipe.pipeline import Frame\n",
        "stages/video.py": "from vpipe.pipeline.runtime.graph import build\n",
        "stages/track.py": "def f():\n    from vpipe.stages import video\nfrom vpipe.stages.video import x\n",
    })
    assert problems(root, {"pipeline": 0, "stages": 1}) == [
        "pipeline/api/frame.py imports vpipe.pipeline.apps.cli: vpipe.pipeline.api may not import vpipe.pipeline.apps",
        "pipeline/runtime/graph.py imports vpipe.stages.video: pipeline may not import stages",
        "stages/video.py imports vpipe.pipeline.runtime.graph: stages imports only the plugin API, vpipe.pipeline.api",
        "import cycle: pipeline -> stages -> pipeline",
        "import cycle in pipeline/: vpipe.pipeline.runtime.graph -> vpipe.pipeline.runtime.runner -> vpipe.pipeline.runtime.graph",
    ]


def test_a_clean_tree_passes(tmp_path):
    root = _tree(tmp_path, {"pipeline/runtime/graph.py": "import numpy\nfrom ..api import frame\n",
                            "pipeline/api/frame.py": "def f():\n    from .element import Element\n",
                            "pipeline/api/element.py": "from . import frame\n",
                            "stages/video.py": "from vpipe.pipeline.api import frame\nfrom vpipe.pipeline import Element\n"})
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
    code = ("import sys\nfrom vpipe.pipeline.apps.cli import app\nimport typer.main\n"
            "group = typer.main.get_command(app)\n"
            "from vpipe.pipeline.runtime.config import load_config\nfrom vpipe.pipeline.runtime.graph import build_graph\n"
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
