"""ImportWatch: the sys.meta_path finder that wires the endpoint at the first import of
docker-py or testcontainers. Real imports of modules written to a temp folder."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_dockerhost.wiring.usage import ImportWatch


@pytest.fixture
def on_path(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.startswith("pdh_watched")]:
            del sys.modules[name]


def test_the_callback_runs_once_after_the_module_ran_and_the_watch_leaves(on_path: Path) -> None:
    (on_path / "pdh_watched.py").write_text("READY = True\n")
    seen: list[bool] = []
    watch = ImportWatch(lambda: seen.append(sys.modules["pdh_watched"].READY), ("pdh_watched",))
    watch.install()
    try:
        importlib.import_module("pdh_watched")
        del sys.modules["pdh_watched"]
        importlib.import_module("pdh_watched")
    finally:
        watch.uninstall()
    assert seen == [True]
    assert watch not in sys.meta_path


class _Leaves:
    """What an import of docker-py on another thread does to an import under way here:
    the watch leaves sys.meta_path between two finders' turns."""

    def __init__(self, watch: ImportWatch) -> None:
        self.watch = watch

    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if name == "pdh_elsewhere":
            self.watch.uninstall()


class _Asked:
    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, name: str, path: object, target: object = None) -> None:
        self.names.append(name)


def test_the_watch_leaving_does_not_hide_a_finder_from_an_import_under_way() -> None:
    watch = ImportWatch(lambda: None, ("pdh_watched",))
    asked = _Asked()
    watch.install()
    extra: list[object] = [_Leaves(watch), asked]
    at = sys.meta_path.index(watch) + 1  # type: ignore[arg-type]
    sys.meta_path[at:at] = extra  # type: ignore[assignment]
    try:
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module("pdh_elsewhere")
    finally:
        watch.uninstall()
        sys.meta_path = [f for f in sys.meta_path if f not in extra]
    # Every finder after the watch was asked; an edit of the list walked would skip one
    # (in a real run, the path finder: "No module named 'codeop'" while pytest started).
    assert asked.names == ["pdh_elsewhere"]


def test_uninstall_when_not_installed_changes_nothing() -> None:
    before = sys.meta_path
    ImportWatch(lambda: None, ("pdh_watched",)).uninstall()
    assert sys.meta_path is before
