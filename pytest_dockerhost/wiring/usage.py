"""Who may use Docker: tests that never ask for the plugin's fixtures count too.

Most suites start containers from a conftest fixture, inline in a test, or with
``docker.from_env()``. The plugin sees them in two ways, both cheap:

- ``ImportWatch``: the first import of ``docker`` or ``testcontainers`` anywhere in
  the run (a conftest, a test module, a test body) resolves and wires the endpoint
  right after that package's ``__init__`` ran and before the importing line goes on,
  so that a module-level ``docker.from_env()`` already reaches the resolved daemon.
- ``may_use_docker``: after collection, a test may use Docker when it is marked, uses
  a plugin fixture, or lives in (or gets fixtures from) a module that imports either
  package, itself or through the project's own helper modules.
"""

from __future__ import annotations

import functools
import os
import sys
import types
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # importlib.abc costs milliseconds at start-up: duck types at run time
    from importlib.abc import Loader
    from importlib.machinery import ModuleSpec

DOCKER_PACKAGES = ("docker", "testcontainers")
DOCKER_FIXTURES = frozenset({"docker_host", "docker_client", "docker_env"})


def _is_docker_name(name: object) -> bool:
    return isinstance(name, str) and name.partition(".")[0] in DOCKER_PACKAGES


def module_imports_docker(module: object, cache: dict[str, bool]) -> bool:
    """True when ``module``'s namespace holds a module, class or function of docker-py or
    testcontainers (``import docker``, ``from testcontainers.x import Y``), or of one of the
    project's own modules that does (``from helpers import start_service``), however deep."""
    name = getattr(module, "__name__", None)
    if not isinstance(name, str):
        return False
    if name in cache:
        return cache[name]
    cache[name] = False  # two of the project's modules that import each other end here
    found = False
    for value in list(vars(module).values()):
        if isinstance(value, types.ModuleType):
            found = _is_docker_name(value.__name__) or _reaches_docker(value, cache)
        elif callable(value):
            owner = getattr(value, "__module__", None)
            found = _is_docker_name(owner) or (
                owner != name and _reaches_docker(sys.modules.get(str(owner)), cache)
            )
        if found:
            break
    cache[name] = found
    return found


def _reaches_docker(module: types.ModuleType | None, cache: dict[str, bool]) -> bool:
    """One of the project's own modules (not the standard library's, not an installed
    package's) that imports docker or testcontainers."""
    path = getattr(module, "__file__", None)
    if module is None or not isinstance(path, str) or _in_library(path):
        return False
    return module_imports_docker(module, cache)


@functools.cache
def _in_library(path: str) -> bool:
    """Once per file: every name a test module imports from pytest or the standard library
    leads here, and realpath asks the file system."""
    return os.path.realpath(path).startswith(_library_roots())


@functools.cache
def _library_roots() -> tuple[str, ...]:
    import sysconfig

    paths = sysconfig.get_paths()
    found = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    found.update(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
    return tuple(os.path.join(os.path.realpath(p), "") for p in found if p)


def docker_imported() -> bool:
    return any(name in sys.modules for name in DOCKER_PACKAGES)


def may_use_docker(item: Any, cache: dict[str, bool], *, imports: bool = True) -> bool:
    """Marked, a plugin fixture, or (with ``imports``) a test or fixture module that imports
    docker or testcontainers."""
    if item.get_closest_marker("docker") is not None:
        return True
    if not DOCKER_FIXTURES.isdisjoint(getattr(item, "fixturenames", ())):
        return True
    if not imports:
        return False
    module = getattr(item, "module", None)
    if module is not None and module_imports_docker(module, cache):
        return True
    info = getattr(item, "_fixtureinfo", None)
    for defs in getattr(info, "name2fixturedefs", {}).values():
        for fixturedef in defs:
            owner = sys.modules.get(getattr(fixturedef.func, "__module__", "") or "")
            if owner is not None and module_imports_docker(owner, cache):
                return True
    return False


def on_import(name: str, then: Callable[[], None]) -> ImportWatch | None:
    """``then()`` now if module ``name`` is imported, else right after its first import:
    the watch that waits for it (to uninstall), or None."""
    if name in sys.modules:
        then()
        return None
    watch = ImportWatch(then, names=(name,))
    watch.install()
    return watch


class _Announcing:
    """Runs the real loader, then the callback: the package is complete (so the callback
    may use it) and the line that imported it has not gone on yet."""

    def __init__(self, real: Loader, then: Callable[[], None]) -> None:
        self.real = real
        self.then = then

    def create_module(self, spec: ModuleSpec) -> types.ModuleType | None:
        return self.real.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        try:
            self.real.exec_module(module)
        finally:
            # Hand the module back to its own loader (importlib.resources, reloads).
            module.__loader__ = self.real
            if module.__spec__ is not None:
                module.__spec__.loader = self.real
        # An exception here would undo the user's import half-way (its submodules stay in
        # sys.modules, detached from a new parent): the callback keeps its failures.
        self.then()


class ImportWatch:
    """Calls ``on_import`` once, at the first import of any of ``names`` (by default
    docker-py or testcontainers), right after that module ran."""

    def __init__(
        self, on_import: Callable[[], None], names: tuple[str, ...] = DOCKER_PACKAGES
    ) -> None:
        self.on_import = on_import
        self.names = names

    def install(self) -> None:
        if any(name in sys.modules for name in self.names):
            return  # imported already: the caller deals with the module as it is
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)  # a walk under way sees one finder twice: harmless

    def uninstall(self) -> None:
        # A new list, never an edit: an import under way on another thread (the sidecar's
        # early start imports docker-py) walks the old one, and a removal from it would make
        # that walk skip the finder after ours: a spurious ModuleNotFoundError.
        if self in sys.meta_path:
            sys.meta_path = [finder for finder in sys.meta_path if finder is not self]

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> ModuleSpec | None:
        if fullname not in self.names:
            return None
        self.uninstall()  # once: the callback and the rest of the import run without us
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec: ModuleSpec | None = find(fullname, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Announcing(spec.loader, self.on_import)  # type: ignore[assignment]
                return spec
        return None
