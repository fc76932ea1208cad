"""The engine pool's pure parts: how entries are read (and refused, naming the source), how
local xdist workers are weighted over the engines, and how a worker finds its own
engine in the handover."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_dockerhost.config.settings import Settings
from pytest_dockerhost.errors import SettingError
from pytest_dockerhost.run.placement import assign, weights
from pytest_dockerhost.run.pool import Pool, pick

from ..helpers.servers import docker_api, serving

GIB = 2**30


def test_entries_come_from_cli_env_and_ini_in_that_order() -> None:
    cli = Settings.from_sources({"pool": ["unix:///a.sock", "tcp://h:2376"]}, {}, {})
    assert cli.pool.value == ("unix:///a.sock", "tcp://h:2376")
    assert cli.pool.source == "--docker-pool"
    env = Settings.from_sources(
        {}, {"PYTEST_DOCKER_POOL": "ssh://ci@build-1, my-context"}, {"pool": ["x"]}
    )
    assert env.pool.value == ("ssh://ci@build-1", "my-context")
    assert env.pool.source == "PYTEST_DOCKER_POOL"
    ini = Settings.from_sources({}, {}, {"pool": ["unix:///a.sock", "tcp://h:2376"]})
    assert (ini.pool.value, ini.pool.source) == (
        ("unix:///a.sock", "tcp://h:2376"),
        "ini docker_pool",
    )
    assert Settings.from_sources({}, {}, {}).pool.value == ()


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        ("http://h:2375", "is not an engine URL: it must start with unix://, tcp://, ssh://"),
        ("tcp://", "names no address"),
        ("sidecar*0", "sidecar*0: write sidecar for one sidecar or sidecar*N"),
        ("sidecar*x", "sidecar*x: write sidecar for one sidecar or sidecar*N"),
        ("sidecar*99", "N a whole number from 1 to 8"),
        ("sidecar*-1", "e.g. sidecar*2"),
        ("my context", "neither an engine URL"),
        ("unix:///a.sock,unix:///a.sock", "is listed twice"),
        ("sidecar*8,sidecar", "sidecar*8, sidecar: more than 8 sidecars in all"),
    ],
)
def test_a_malformed_entry_is_refused_naming_its_source(raw: str, said: str) -> None:
    with pytest.raises(SettingError) as info:
        Settings.from_sources({}, {"PYTEST_DOCKER_POOL": raw}, {})
    assert "PYTEST_DOCKER_POOL=" in str(info.value)
    assert said in str(info.value)


def test_equal_engines_take_turns() -> None:
    shares = weights([(2, 8 * GIB), (2, 8 * GIB)])
    assert shares == [0.5, 0.5]
    placed = assign(["gw0", "gw1", "gw2", "gw3"], shares)
    assert placed == {"gw0": 0, "gw1": 1, "gw2": 0, "gw3": 1}


def test_a_bigger_engine_gets_more_workers() -> None:
    # Twice the CPUs and twice the memory: twice the workers.
    shares = weights([(8, 32 * GIB), (4, 16 * GIB)])
    placed = assign([f"gw{n}" for n in range(6)], shares)
    assert sorted(placed.values()).count(0) == 4
    assert sorted(placed.values()).count(1) == 2


def test_cpus_and_memory_weigh_alike_and_unknown_sizes_count_as_average() -> None:
    # Twice the CPUs but half the memory: even.
    assert weights([(4, 8 * GIB), (2, 16 * GIB)]) == pytest.approx([0.5, 0.5])
    # An engine that did not say (0): the average of those that did.
    assert weights([(2, 8 * GIB), (0, 0), (2, 8 * GIB)]) == pytest.approx([1 / 3] * 3)


def test_a_restarted_worker_goes_where_the_load_is_lowest() -> None:
    shares = weights([(2, GIB), (2, GIB)])
    # Engine 0 has two workers, engine 1 one (its other one died): the new one goes to 1.
    assert assign(["gw4"], shares, counts=[2, 1]) == {"gw4": 1}


def test_fewer_workers_than_engines_leaves_some_without() -> None:
    placed = assign(["gw0"], weights([(2, GIB), (2, GIB), (2, GIB)]))
    assert placed == {"gw0": 0}


def test_each_worker_picks_its_own_export_from_the_handover() -> None:
    handover = {"pool": {"gw0": {"host": {"a": 1}}, "gw1": {"host": {"b": 2}}}}
    assert pick(handover, "gw1") == {"host": {"b": 2}}
    assert pick(handover, "gw7") is None  # restarted: waits for its workerinput
    assert pick({"host": {"a": 1}}, "gw0") == {"host": {"a": 1}}  # no pool: the one export


def test_sidecar_entries_are_read_one_engine_per_sidecar_and_named_apart() -> None:
    settings = Settings.from_sources({"pool": ["unix:///a.sock,sidecar,SIDECAR*2,ctx"]}, {}, {})
    assert settings.pool.value == ("unix:///a.sock", "sidecar", "SIDECAR*2", "ctx")
    engines = Pool(settings).engines
    assert [(e.number, e.entry, e.sidecar) for e in engines] == [
        (1, "unix:///a.sock", 0),
        (2, "sidecar #1", 1),
        (3, "sidecar #2", 2),
        (3, "sidecar #3", 3),
        (4, "ctx", 0),
    ]
    assert {e.source for e in engines[2:4]} == {"--docker-pool entry 3"}
    assert all(e.outcome == "not tried" for e in engines)


@pytest.mark.parametrize(
    ("cli", "env", "said"),
    [
        (
            {"pool": ["sidecar*2"], "mode": "sidecar"},
            {},
            "--docker-pool lists sidecar*2 while --docker-mode is sidecar",
        ),
        (
            {},
            {"PYTEST_DOCKER_POOL": "unix:///a.sock,sidecar", "PYTEST_DOCKER_MODE": "sidecar"},
            "PYTEST_DOCKER_POOL lists sidecar while PYTEST_DOCKER_MODE is sidecar",
        ),
    ],
)
def test_sidecar_entries_with_sidecar_mode_are_refused_naming_both_settings(
    cli: dict[str, object], env: dict[str, str], said: str
) -> None:
    with pytest.raises(SettingError) as info:
        Settings.from_sources(cli, env, {})
    assert said in str(info.value)
    assert "Drop the sidecar entries" in str(info.value)


def test_sidecar_mode_with_a_pool_of_engines_alone_is_accepted() -> None:
    settings = Settings.from_sources({"pool": ["unix:///a.sock"], "mode": "sidecar"}, {}, {})
    assert settings.mode.value == "sidecar"


def test_a_runs_sidecars_get_names_of_their_own() -> None:
    import dataclasses

    from pytest_dockerhost.sidecar.preflight import sidecar_name
    from pytest_dockerhost.sidecar.spec import Spec

    spec = Spec.from_settings(Settings.from_sources({}, {}, {}))
    names = {sidecar_name(spec, "abc123", "cfg" * 8, number) for number in (0, 1, 2)}
    assert names == {"pytest-dockerhost-abc123", *(f"pytest-dockerhost-abc123-{n}" for n in (1, 2))}
    kept = dataclasses.replace(spec, reuse=True)
    assert sidecar_name(kept, "abc123", "c" * 40, 2).endswith("-abc123-2")


def test_engines_of_numbers_the_sidecars_across_the_pool() -> None:
    from pytest_dockerhost.config.pool import engines_of

    assert engines_of(("sidecar*2", "tcp://h:2376", "sidecar")) == [
        (1, "sidecar*2", 1),
        (1, "sidecar*2", 2),
        (2, "tcp://h:2376", 0),
        (3, "sidecar", 3),
    ]


def test_the_xdist_controllers_start_says_workers_are_coming_and_only_while_it_runs() -> None:
    from pytest_dockerhost.run.pool_sidecars import for_workers, workers_coming

    seen: list[bool] = []
    assert not workers_coming()
    for_workers(lambda: seen.append(workers_coming()))
    assert seen == [True]
    assert not workers_coming()


def test_a_start_that_calls_back_in_is_not_run_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pool's sidecars import docker-py while the run starts: the import watch calls the
    lifecycle back in, which must not start again (it recursed until the stack ran out)."""
    from pytest_dockerhost.run import pool
    from pytest_dockerhost.run.lifecycle import EndpointLifecycle

    calls: list[str] = []
    real = pool.resolve_or_pool

    def calling_back_in(settings: Settings, run: EndpointLifecycle) -> Any:
        calls.append(settings.host.value or "")
        run.activate(wait=False)  # what docker-py's first import does, through the watch
        return real(settings, run)

    monkeypatch.setattr(pool, "resolve_or_pool", calling_back_in)
    with serving(docker_api()) as server:
        settings = Settings.from_sources({"host": server.url, "reap": "false"}, {}, {})
        state = EndpointLifecycle(settings, say=lambda _: None)
        try:
            state.start()
        finally:
            state.close()
    assert calls == [server.url]
    assert state.host is not None
    assert state.host.url == server.url
