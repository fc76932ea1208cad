"""The package's shape: layers by the stages of a run, arrows pointing down only (between
folders as well as modules, function-level and type-only imports included), no cycle, and
no module much past 400 lines. The same for ``benchmarks/``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "pytest_dockerhost"
BENCHMARKS = REPO / "benchmarks"
MAX_LINES = 430

# Bottom to top. A module may import from its own layer and from the layers below it.
# ``errors``, ``labels`` and ``tempdirs`` are leaves every layer names; ``plugin`` and
# ``__main__`` are the surface, and the package's ``__init__`` sits above everything (its
# lazy names).
LAYERS = (
    "errors",
    "labels",
    "tempdirs",
    "config",
    "messages",
    "engine",
    "remote",
    "discovery",
    "cleanup",
    "sidecar",
    "wiring",
    "run",
    "plugin",
    "__main__",
    "",
)


def _modules(root: Path) -> dict[str, Path]:
    found = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the modules it imports, relative imports and absolute ones within the tree."""
    top = next(iter(modules)).split(".")[0]
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    target = node.module or ""
                subs = {f"{target}.{alias.name}" for alias in node.names} & set(modules)
                targets = subs or {target}
            else:
                continue
            graph[name] |= {t for t in targets if t.split(".")[0] == top} & set(modules) - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    return cycles


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize("root", [PACKAGE, BENCHMARKS], ids=["package", "benchmarks"])
def test_the_import_graph_has_no_cycle(root: Path) -> None:
    cycles = _cycles(_graph(_modules(root)))
    assert not cycles, "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_every_module_lives_in_a_known_layer() -> None:
    strays = sorted(name for name in _modules(PACKAGE) if _layer(name) not in LAYERS)
    assert not strays, f"add them to a layer's folder, or name the new layer in LAYERS: {strays}"


def test_imports_point_down_the_layers_only() -> None:
    graph = _graph(_modules(PACKAGE))
    upward = sorted(
        f"{name} -> {target} ({_layer(name) or '__init__'} is below {_layer(target) or '__init__'})"
        for name, targets in graph.items()
        for target in targets
        if LAYERS.index(_layer(target)) > LAYERS.index(_layer(name))
    )
    assert not upward, "\n".join(upward)


def test_the_folders_have_no_cycle_between_them() -> None:
    graph = _graph(_modules(PACKAGE))
    folders: dict[str, set[str]] = {}
    for name, targets in graph.items():
        folders.setdefault(_layer(name), set()).update(
            _layer(t) for t in targets if _layer(t) != _layer(name)
        )
    for layer in folders:
        folders[layer] &= set(folders)
    cycles = _cycles(folders)
    assert not cycles, "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_the_leaves_import_only_what_is_below_them() -> None:
    graph = _graph(_modules(PACKAGE))
    assert graph["pytest_dockerhost.errors"] == set()
    assert graph["pytest_dockerhost.labels"] == set()
    # The option table and its parsing are the floor: they name no sentence of messages/.
    config = {t for name, ts in graph.items() if _layer(name) == "config" for t in ts}
    assert {_layer(t) for t in config} <= {"config", "errors"}, config


def test_messages_read_nothing_of_the_machine() -> None:
    """messages/ is pure text: the machine's state comes in as arguments, so a unit test
    pins the exact fix a user gets."""
    machine = {"os", "grp", "pwd", "stat", "socket", "subprocess", "shutil", "pathlib"}
    readers = {}
    for path in (PACKAGE / "messages").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names: set[str] = set()
            if isinstance(node, ast.Import):
                names = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = {node.module.split(".")[0]}
            if names & machine:
                readers.setdefault(path.name, set()).update(names & machine)
    assert not readers, readers


def test_no_re_export_shims() -> None:
    """A package's ``__init__`` defines what it holds or nothing: no names gathered from
    its modules for the convenience of importers (the top package's lazy API excepted)."""
    shims = []
    for path in PACKAGE.rglob("__init__.py"):
        if path.parent == PACKAGE:
            continue
        tree = ast.parse(path.read_text())
        gathered = [
            node
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.level and node.module != "__future__"
        ]
        defines = any(
            not isinstance(node, (ast.Import, ast.ImportFrom, ast.Expr)) for node in tree.body
        )
        if gathered and not defines:
            shims.append(str(path.relative_to(PACKAGE)))
    assert not shims, shims


def test_no_module_is_much_over_400_lines() -> None:
    long = {
        str(path.relative_to(REPO)): count
        for root in (PACKAGE, BENCHMARKS)
        for path in root.rglob("*.py")
        if (count := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long


def test_the_layout_test_sees_an_upward_import(tmp_path: Path) -> None:
    """The checks above can fail: a package with an upward arrow and a cycle is caught."""
    root = tmp_path / "pytest_dockerhost"
    (root / "config").mkdir(parents=True)
    (root / "run").mkdir()
    for folder in (root, root / "config", root / "run"):
        (folder / "__init__.py").write_text("")
    (root / "config" / "settings.py").write_text("from ..run.session import X\n")
    (root / "run" / "session.py").write_text("from ..config.settings import Y\nX = 1\n")
    graph = _graph(_modules(root))
    assert graph["pytest_dockerhost.config.settings"] == {"pytest_dockerhost.run.session"}
    assert _cycles(graph)
