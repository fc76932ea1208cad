"""The docs: the options page generated from the option table, the hook that builds the
generated pages, and the README's promises (short, its links into docs/ resolve, the
options it names exist, every recipe in examples/ has its page)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from pytest_dockerhost.config.option_table import OPTIONS, OptionSpec
from pytest_dockerhost.config.parsing import parse_duration, parse_text

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
README = REPO / "README.md"
# What a user needs first: the two commands, a row per place it runs, the settings people
# set, the messages people meet. The reference goes to docs/.
README_LIMIT = 12_500


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"test_docs_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def options_page() -> ModuleType:
    return _load(DOCS / "gen" / "options.py")


def _section(page: str, flag: str) -> str:
    """One option's section of the page: from its heading to the next."""
    start = page.index(f"## `{flag}`")
    end = page.find("\n## ", start + 1)
    return page[start : None if end == -1 else end]


def test_the_options_page_has_every_option_of_the_table(options_page: ModuleType) -> None:
    page = options_page.render()
    assert page.startswith("# Options\n")
    for spec in OPTIONS:
        section = _section(page, spec.flag)
        for name in (spec.ini, spec.env):
            if name is not None:
                assert f"`{name}`" in section, (spec.flag, name)
        for choice in spec.choices:
            assert f"`{choice}`" in section, (spec.flag, choice)
        assert spec.help[1:60] in section, spec.flag
    assert sum(line.startswith("## `--docker-") for line in page.splitlines()) == len(OPTIONS)


def test_the_options_page_says_defaults_as_users_write_them(options_page: ModuleType) -> None:
    page = options_page.render()
    assert "- default: `auto`" in _section(page, "--docker-mode")
    assert "- default: `60s`" in _section(page, "--docker-lease")
    assert "- default: `24h`" in _section(page, "--docker-sidecar-keep-for")
    assert "- default: `30`" in _section(page, "--docker-timeout")
    assert "- default: true" in _section(page, "--docker-reap")
    assert "`--no-docker-reap`" in _section(page, "--docker-reap")
    assert "- environment: none" in _section(page, "--docker-socket")
    assert "`--docker-preload=IMAGE`" in _section(page, "--docker-preload")


def test_an_option_added_to_the_table_reaches_the_page(options_page: ModuleType) -> None:
    extra = OptionSpec(
        "pool_size",
        "--docker-pool-size",
        "how many engines the pool keeps warm.",
        parse_duration,
        90.0,
        ini="docker_pool_size",
        env="PYTEST_DOCKER_POOL_SIZE",
    )
    assert "--docker-pool-size" not in options_page.render()
    page = options_page.render((*OPTIONS, extra))
    section = _section(page, "--docker-pool-size")
    assert "`--docker-pool-size=POOL-SIZE`" in section
    assert "`docker_pool_size`" in section
    assert "`PYTEST_DOCKER_POOL_SIZE`" in section
    assert "- default: `90s`" in section
    assert "How many engines the pool keeps warm." in section
    assert "[`--docker-pool-size`](#docker-pool-size)" in page  # the summary table's row


def test_an_empty_table_is_an_error_not_an_empty_page(options_page: ModuleType) -> None:
    with pytest.raises(ValueError, match="option table is empty"):
        options_page.render(())


def test_a_help_text_with_a_pipe_keeps_the_summary_table_whole(options_page: ModuleType) -> None:
    odd = OptionSpec("odd", "--docker-odd", "a|b", parse_text, "x|y", ini="docker_odd")
    page = options_page.render((odd,))
    (row,) = [line for line in page.splitlines() if line.startswith("| [`--docker-odd`]")]
    assert row.count("|") - row.count("\\|") == 5


def test_the_hook_builds_every_generated_page_and_fails_loudly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mkdocs", reason="mkdocs is in the dev extra, not the test extra")
    from mkdocs.exceptions import PluginError

    hooks = _load(DOCS / "hooks.py")
    assert {path.name for path in hooks.generators()} >= {"options.py", "troubleshooting.py"}
    assert hooks.generate(DOCS / "gen" / "options.py").startswith("# Options\n")

    broken = tmp_path / "broken.py"
    broken.write_text("def render():\n    raise RuntimeError('the catalogue is gone')\n")
    with pytest.raises(PluginError, match=r"broken\.py: RuntimeError: the catalogue is gone"):
        hooks.generate(broken)
    empty = tmp_path / "empty.py"
    empty.write_text("def render():\n    return '  '\n")
    with pytest.raises(PluginError, match="returned no page"):
        hooks.generate(empty)
    (tmp_path / "_helper.py").write_text("TITLE = '# Helped'\n")
    helped = tmp_path / "helped.py"
    helped.write_text("from _helper import TITLE\n\ndef render():\n    return TITLE\n")
    assert hooks.generate(helped) == "# Helped"
    sys.modules.pop("_helper", None)
    monkeypatch.setattr(hooks, "GENERATORS", tmp_path)
    assert [path.name for path in hooks.generators()] == ["broken.py", "empty.py", "helped.py"]


def test_the_readme_is_short() -> None:
    size = len(README.read_text())
    assert size <= README_LIMIT, f"README.md is {size} characters; the reference goes to docs/"


def _links(text: str) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", text)


def test_every_readme_link_into_the_repository_resolves() -> None:
    generated = {f"{path.stem}.md" for path in (DOCS / "gen").glob("*.py")}
    local = [link for link in _links(README.read_text()) if "://" not in link]
    into_docs = [link for link in local if link.startswith("docs/")]
    assert len(into_docs) >= 8, into_docs
    for link in local:
        target = link.split("#", 1)[0]
        assert Path(target).name not in generated, f"{link}: generated, not in the repository"
        assert (REPO / target).is_file(), f"README links to {link}, which does not exist"


def test_every_option_the_docs_name_is_in_the_table() -> None:
    flags = {spec.flag for spec in OPTIONS} | {"--no-" + spec.flag[2:] for spec in OPTIONS}
    pages = [README, *sorted(DOCS.rglob("*.md"))]
    for page in pages:
        named = set(re.findall(r"--(?:no-)?docker-[a-z0-9-]*[a-z0-9]", page.read_text()))
        unknown = named - flags
        assert not unknown, f"{page.relative_to(REPO)} names {sorted(unknown)}"


def test_every_recipe_in_examples_has_its_page() -> None:
    pages = sorted((DOCS / "recipes").glob("*.md"))
    assert len(pages) >= 6, pages
    text = "\n".join(page.read_text() for page in pages)
    recipes = [path for path in (REPO / "examples").iterdir() if path.name != "demo"]
    assert recipes
    for path in recipes:
        assert f"examples/{path.name}" in text, f"no page in docs/recipes names {path.name}"


def test_ci_runs_the_readme_test_command() -> None:
    """README's second command ends with the test command that .ci/run runs last."""
    found = re.search(r"^# 2\. .*\n(.+)$", README.read_text(), re.MULTILINE)
    assert found, "README has no '# 2.' command"
    command = found.group(1).split("&&")[-1].strip()
    script = (REPO / ".ci" / "run").read_text().splitlines()
    steps = [line.strip() for line in script if line.strip() and not line.lstrip().startswith("#")]
    assert steps[-1] == command == "python -m pytest"


def _digest_rows(readme: str) -> list[str]:
    """The message column of README's troubleshooting digest, one cell a row."""
    section = readme.split("\n## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    return [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]


def _said_somewhere(fragment: str, texts: list[str]) -> bool:
    """``fragment`` with its example values (numbers, addresses, host:port, quoted names)
    read as any value of the same kind."""
    pattern = re.escape(fragment)
    pattern = re.sub(r"[\w-]+(?:\\\.[\w-]+)*:\d+", r"[\\w.-]+:\\d+", pattern)
    pattern = re.sub(r"\d+(?:\\\.\d+)*", r"[\\d.]+", pattern)
    pattern = re.sub(r"'[^']*'", r"'[^']*'", pattern)
    return any(re.search(pattern, text) for text in texts)


def _catalogue_texts() -> list[str]:
    from pytest_dockerhost.messages.catalogue import catalogue

    texts = []
    for entry in catalogue():
        texts.extend([*entry.searched, entry.says, *(fix.text for fix in entry.fixes)])
    return texts


def test_the_readme_digest_quotes_only_what_the_catalogue_says() -> None:
    """README's troubleshooting digest is a digest of the catalogue, not a second home for
    the plugin's sentences: each message it quotes is one the catalogue renders."""
    rows = _digest_rows(README.read_text())
    assert len(rows) >= 5, rows
    texts = _catalogue_texts()
    unsaid = [
        fragment.strip()
        for row in rows
        for quoted in re.findall(r"`([^`]+)`", row)
        for fragment in quoted.split("...")
        if fragment.strip() and not _said_somewhere(fragment.strip(), texts)
    ]
    assert not unsaid, unsaid


def test_the_digest_check_sees_a_sentence_the_plugin_never_says() -> None:
    texts = _catalogue_texts()
    assert _said_somewhere("192.168.0.9:2376 refused the connection", texts)
    assert not _said_somewhere("the daemon is sad today", texts)


def test_the_marker_page_names_every_variable_that_means_ci() -> None:
    """Skip locally, fail on CI: the fixtures page lists the variables that decide it."""
    from pytest_dockerhost.config.parsing import CI_VARIABLES

    page = (REPO / "docs" / "fixtures.md").read_text()
    missing = [name for name in CI_VARIABLES if f"`{name}`" not in page]
    assert not missing, missing


def test_the_profiles_page_has_a_row_per_profile_with_its_policy_from_the_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typing import get_args

    from pytest_dockerhost.discovery.profile import Policy, ProfileName

    page = _load(DOCS / "gen" / "profiles.py")
    rows = [line for line in page.render().splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(get_args(ProfileName))
    kubedock = next(row for row in rows if row.startswith("| `kubedock`"))
    assert "| off | off (the engine reaps) | copies |" in kubedock
    # The page reads the table: a changed policy reaches it.
    monkeypatch.setattr(page, "policy_for", lambda name, info, env: Policy(ryuk=False))
    assert all("| off | on |" in row for row in page.render().splitlines()[-len(rows) :])
