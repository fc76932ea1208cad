"""The comparisons: each function measures one row of the table, A (ours) against B."""

from __future__ import annotations

import contextlib
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from benchmarks import (
    engine,
    harness,
    pool_rows,
    projection,
    remote_rows,
    sidecar_rows,
    ssh_rows,
    suite_rows,
    workloads,
)
from benchmarks.harness import Plan, Result, alternate, pytest_cmd, ratio_at_most
from benchmarks.load_rows import concurrent_runs_row

# --- DooD resolution -----------------------------------------------------------------


def dood_resolution(plan: Plan) -> Result:
    import docker

    from pytest_dockerhost import Settings, resolve

    env = harness.clean_env()
    result = Result(
        key="dood-resolution",
        title="DooD resolution (in process)",
        a_label="resolve(auto) + host.client()",
        b_label="docker.from_env() + ping()",
        measures=(
            "in one warm process (imports done), seconds from nothing to a client that has "
            "proven the daemon answers; socket /var/run/docker.sock present"
        ),
        target="ratio <= 1.3",
        check=ratio_at_most(1.3),
    )

    def ours() -> None:
        host = resolve(Settings.from_sources({}, env, {}), env=env).require()
        host.client().close()

    def theirs() -> None:
        client = docker.from_env(environment=env)
        client.ping()
        client.close()

    alternate([ours, theirs], [result.a, result.b], reps=plan.reps(41), warmup=plan.warmup + 2)
    return result


COLD_OURS = (
    "from pytest_dockerhost import Settings, resolve\n"
    "resolve(Settings.from_sources()).require().client().close()\n"
)
COLD_THEIRS = "import docker\nc = docker.from_env()\nc.ping()\nc.close()\n"


def dood_resolution_cold(plan: Plan) -> Result:
    env = harness.clean_env()
    result = Result(
        key="dood-resolution-cold",
        title="DooD resolution (fresh interpreter)",
        a_label="python -c 'resolve(auto) + client'",
        b_label="python -c 'docker.from_env().ping()'",
        measures="wall time of a new Python process that imports, resolves and builds a client",
        target="ratio <= 1.3",
        check=ratio_at_most(1.3),
    )
    alternate(
        [
            lambda: harness.run([sys.executable, "-c", COLD_OURS], env=env) and None,
            lambda: harness.run([sys.executable, "-c", COLD_THEIRS], env=env) and None,
        ],
        [result.a, result.b],
        reps=plan.reps(15),
        warmup=plan.warmup,
    )
    return result


# --- plugin load on Docker-free runs ---------------------------------------------------


def plugin_load(plan: Plan) -> Result:
    result = Result(
        key="plugin-load",
        title="plugin load, 200 trivial tests",
        a_label="pytest -p dockerhost",
        b_label="pytest -p no:dockerhost",
        measures=(
            "wall time of a pytest subprocess running 200 trivial tests in 10 files that never "
            "touch Docker (the plugin resolves only when a selected test needs Docker)"
        ),
        target="ratio <= 1.03",
        check=ratio_at_most(1.03),
    )
    env = harness.clean_env()
    with harness.workspace(workloads.trivial_tests()) as root:
        alternate(
            [
                lambda: harness.run(pytest_cmd("-p", "dockerhost"), env=env, cwd=root) and None,
                lambda: harness.run(pytest_cmd("-p", "no:dockerhost"), env=env, cwd=root) and None,
            ],
            [result.a, result.b],
            reps=plan.reps(61),
            warmup=plan.warmup,
        )
    return result


# --- testcontainers ------------------------------------------------------------------


def testcontainers_row(plan: Plan) -> Result:
    count = 3
    result = Result(
        key="testcontainers",
        title=f"testcontainers, {count} containers",
        a_label="pytest -p dockerhost",
        b_label="pytest -p no:dockerhost",
        measures=(
            f"wall time of a pytest subprocess whose {count} tests each start the busybox httpd "
            "with testcontainers' DockerContainer, wait for its first HTTP answer on the "
            "mapped port and stop it (Ryuk off in both)"
        ),
        target="ratio <= 1.05",
        check=ratio_at_most(1.05),
    )
    env = harness.clean_env()
    files = workloads.tc_workload(engine.BUSYBOX_IMAGE, harness.labels(), count)
    with harness.workspace(files) as root:
        alternate(
            [
                lambda: harness.run(pytest_cmd("-p", "dockerhost"), env=env, cwd=root) and None,
                lambda: harness.run(pytest_cmd("-p", "no:dockerhost"), env=env, cwd=root) and None,
            ],
            [result.a, result.b],
            reps=plan.reps(11),
            warmup=plan.warmup,
        )
    return result


# --- sidecar cold start baselines ----------------------------------------------------------


@contextlib.contextmanager
def bench_certs() -> Iterator[engine.CertSet]:
    with tempfile.TemporaryDirectory(prefix="pdh-bench-certs-") as tmp:
        yield engine.make_certs(Path(tmp))


def sidecar_cold(plan: Plan) -> list[Result]:
    """Sidecar cold start against the usual way and against the floor, and what is left of
    it when collection takes a while; alternated."""
    added = (
        "launch to the first Docker test's setup done, --docker-mode=sidecar minus the same "
        "in DooD (one test), pairwise"
    )
    usual = Result(
        key="sidecar-vs-usual",
        title="sidecar cold start vs the usual way",
        a_label=added,
        b_label="docker run DOCKER_TLS_CERTDIR=/certs, wait+copy certs, poll version",
        measures=(
            "seconds until a TLS client gets an answer to `version` from a fresh dind "
            "(same image, unprivileged profile, fresh /var/lib/docker volume); B: the "
            "entrypoint generates 4096-bit RSA keys, polled every 0.1 s"
        ),
        target="ratio <= 0.2",
        check=ratio_at_most(0.2),
    )
    floor = Result(
        key="sidecar-vs-floor",
        title="what the sidecar adds to a run vs the floor (nothing to overlap)",
        a_label=added,
        b_label="same image, certs put_archive'd before start, poll version",
        measures=(
            "A: how much later a one-test run's Docker test gets its endpoint in sidecar mode "
            "than with the local socket: the sidecar's whole cost to the run, pytest's own "
            "start-up excluded, overlapped only with what pytest does anyway; B creates the "
            "container, copies pre-made certificates in, starts it and polls `version` "
            "every 20 ms in a warm process: the daemon's own start time"
        ),
        target="ratio <= 1.1",
        check=ratio_at_most(1.1),
    )
    overlap = Result(
        key="sidecar-overlap",
        title="first Docker test's wait after a 1.5 s collection vs the floor",
        a_label="--docker-mode=sidecar: the first Docker test's setup, collection took 1.5 s",
        b_label="the floor (as above)",
        measures=(
            "seconds the first test that needs Docker spends in setup when a module before it "
            "takes 1.5 s to import: the sidecar started with the run, on a thread"
        ),
        target="ratio <= 0.2",
        check=ratio_at_most(0.2),
    )
    reason = sidecar_rows.unavailable()
    with bench_certs() as certs:
        with_sidecar: list[float] = []
        dood: list[float] = []
        contenders: list[Callable[[], float | None]] = [
            engine.dind_usual,
            lambda: engine.dind_floor(certs),
        ]
        samples = [usual.b, floor.b]
        if not reason:
            contenders[:0] = [
                lambda: sidecar_rows.launch_to_docker_sample(sidecar=True),
                lambda: sidecar_rows.launch_to_docker_sample(sidecar=False),
            ]
            samples[:0] = [with_sidecar, dood]
        alternate(contenders, samples, reps=plan.reps(3), warmup=0)
        if not reason:
            # The floor and the sidecar are fast; more of them for a stable median.
            extra = [
                lambda: sidecar_rows.launch_to_docker_sample(sidecar=True),
                lambda: sidecar_rows.launch_to_docker_sample(sidecar=False),
                lambda: engine.dind_floor(certs),
                sidecar_rows.overlapped_wait_sample,
            ]
            alternate(extra, [with_sidecar, dood, floor.b, overlap.a], reps=plan.reps(10))
            floor.a = [a - b for a, b in zip(with_sidecar, dood, strict=True)]
            usual.a = list(floor.a)
            floor.extra["launch to first Docker test, sidecar / DooD (medians)"] = (
                f"{statistics.median(with_sidecar):.3f} s / {statistics.median(dood):.3f} s"
            )
    if reason:
        usual.skipped = floor.skipped = overlap.skipped = f"A not measured: {reason}"
    else:
        overlap.b = list(floor.b)
    return [usual, floor, overlap]


ROWS: dict[str, Callable[[Plan], Result | list[Result]]] = {
    "dood": dood_resolution,
    "dood-cold": dood_resolution_cold,
    "plugin-load": plugin_load,
    "testcontainers": testcontainers_row,
    "sidecar-cold": sidecar_cold,
    "sidecar-reuse": sidecar_rows.guarded("sidecar-reuse", sidecar_rows.reuse_row),
    "xdist": sidecar_rows.guarded("xdist", sidecar_rows.xdist_row),
    "preload": sidecar_rows.guarded("preload", sidecar_rows.preload_row),
    "suite": suite_rows.suite_row,
    "concurrent-runs": concurrent_runs_row,
    "remote-throughput": remote_rows.throughput_row,
    "remote-forward-ready": remote_rows.forward_ready_row,
    "remote-suite": remote_rows.suite_row,
    "ssh-implementations": ssh_rows.ssh_implementations_row,
    "pool-projection": projection.projection_row,
    "pool": pool_rows.pool_row,
}
