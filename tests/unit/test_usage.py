"""Which tests may use Docker (wiring/usage.py), read from real modules: a test module that
reaches docker-py or testcontainers only through the project's own helper modules counts,
one that reaches only the standard library or installed packages does not."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_dockerhost.wiring.usage import _in_library, _library_roots, module_imports_docker

MODULES = {
    "pdh_usage_service": "import testcontainers.core.container\n\ndef start(): pass\n",
    "pdh_usage_deeper": "from pdh_usage_service import start\n\ndef run(): start()\n",
    "pdh_usage_client": "from docker import from_env\n\nclass Engine: pass\n",
    "pdh_usage_plain": "import json\nfrom pathlib import Path\n\ndef load(): pass\n",
    # Two of the project's modules that import each other, neither reaching Docker.
    "pdh_usage_ping": "import pdh_usage_pong\n\ndef ping(): pass\n",
    "pdh_usage_pong": "import pdh_usage_ping\n\ndef pong(): pass\n",
    "test_through_helper": "from pdh_usage_deeper import run\n\ndef test(): run()\n",
    "test_through_module": "import pdh_usage_service\n\ndef test(): pass\n",
    "test_through_class": "from pdh_usage_client import Engine\n\ndef test(): pass\n",
    "test_plain": "from pdh_usage_plain import load\nimport pdh_usage_ping\n\ndef test(): pass\n",
    # A function of an installed package that imports docker-py is not the project's own.
    "test_through_library": "from pdh_usage_lib import tool\n\ndef test(): pass\n",
}
INSTALLED = {"pdh_usage_lib": "import docker\n\ndef tool(): pass\n"}


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, text in MODULES.items():
        (tmp_path / f"{name}.py").write_text(text)
    installed = tmp_path / "lib" / "site-packages"
    installed.mkdir(parents=True)
    for name, text in INSTALLED.items():
        (installed / f"{name}.py").write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(installed))
    _library_roots.cache_clear()
    _in_library.cache_clear()
    yield
    _library_roots.cache_clear()
    _in_library.cache_clear()
    for name in [*MODULES, *INSTALLED]:
        sys.modules.pop(name, None)


@pytest.mark.usefixtures("modules")
@pytest.mark.parametrize(
    ("name", "uses"),
    [
        ("test_through_helper", True),  # two helper modules deep
        ("test_through_module", True),
        ("test_through_class", True),
        ("test_plain", False),
        ("test_through_library", False),
    ],
)
def test_a_module_may_use_docker_through_the_projects_own_helpers(name: str, uses: bool) -> None:
    module = importlib.import_module(name)
    assert module_imports_docker(module, {}) is uses
