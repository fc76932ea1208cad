"""MkDocs hook: the generated pages. Every ``docs/gen/NAME.py`` has ``render() -> str``; its
Markdown becomes the page ``NAME.md`` of the site at build time (never committed). A
generator that fails, or returns no page, fails the build."""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path
from types import ModuleType

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

GENERATORS = Path(__file__).resolve().parent / "gen"
log = logging.getLogger("mkdocs.hooks.generated")


def generators() -> list[Path]:
    """The generator modules, by name; files starting with "_" are helpers."""
    return sorted(p for p in GENERATORS.glob("*.py") if not p.name.startswith("_"))


def load(path: Path) -> ModuleType:
    """The generator's module; its folder is importable meanwhile, for its "_" helpers."""
    spec = importlib.util.spec_from_file_location(f"docs_gen_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise PluginError(f"docs generator {path}: cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def generate(path: Path) -> str:
    """One generator's page; any failure is a PluginError that names the generator."""
    try:
        page = load(path).render()
    except PluginError:
        raise
    except Exception as error:
        log.exception("docs generator %s failed", path.name)
        raise PluginError(f"docs generator {path}: {type(error).__name__}: {error}") from error
    if not isinstance(page, str) or not page.strip():
        raise PluginError(f"docs generator {path}: render() returned no page ({page!r:.60})")
    return page


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for path in generators():
        name = f"{path.stem}.md"
        if files.get_file_from_path(name) is not None:
            raise PluginError(f"docs/{name} is committed, but docs/gen/{path.name} generates it")
        files.append(File.generated(config, name, content=generate(path)))
    return files
