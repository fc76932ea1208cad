"""The engine pool's row (issue #23, item 5): a 40-test service suite at ``-n 4`` on a pool
of two engines (this machine's, and a nested Docker 20.10 reached over TCP with TLS)
against the same suite on this machine's engine alone.

Both engines share this machine's two cores: the row measures what the pool costs (its
second resolution, claim and reaper, and the nested engine's own overhead), not what a
second machine would add.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import engine, harness, workloads
from benchmarks.harness import Plan, Result, alternate, pytest_cmd, ratio_at_most

TESTS = 40
WORKERS = "4"
HERE = "unix:///var/run/docker.sock"


def _client_certs(container: Any, dest: Path) -> Path:
    """The dind's own /certs/client (its server certificate names its IP), copied here."""
    stream, _ = container.get_archive("/certs/client")
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None:
                (dest / Path(member.name).name).write_bytes(handle.read())
    return dest


def _second_engine(folder: Path) -> tuple[str, Path, Any, str]:
    """A nested dind on this engine, TLS on its own IP's 2376, the busybox image loaded:
    (its URL, its client certificates, the container, its volume)."""
    import docker

    volume = f"pdh-bench-pool-{harness.RUN_ID}-{time.monotonic_ns() % 10**9}"
    container = engine._create_dind(volume, env={"DOCKER_TLS_CERTDIR": "/certs"})
    harness.on_cleanup(lambda: engine.remove(container, volume))
    container.start()
    deadline = time.monotonic() + 120
    container.reload()
    address = container.attrs["NetworkSettings"]["IPAddress"]
    url = f"tcp://{address}:2376"
    certs = folder / "certs"
    while True:  # its certificates are written while it starts: copied until they verify
        inner = None
        try:
            _client_certs(container, certs)
            tls = docker.tls.TLSConfig(
                client_cert=(str(certs / "cert.pem"), str(certs / "key.pem")),
                ca_cert=str(certs / "ca.pem"),
                verify=True,
            )
            inner = docker.DockerClient(base_url=url, tls=tls, version="1.41", timeout=120)
            inner.api.trust_env = False  # REQUESTS_CA_BUNDLE would replace its CA
            inner.ping()
            break
        except Exception:
            if inner is not None:
                inner.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        inner.images.load(engine.client().images.get(engine.BUSYBOX_IMAGE).save(named=True))
    finally:
        inner.close()
    return url, certs, container, volume


def pool_row(plan: Plan) -> Result:
    result = Result(
        key="pool",
        title=f"engine pool, {TESTS}-test service suite at -n {WORKERS}",
        a_label="--docker-pool of 2 engines",
        b_label="this machine's engine alone",
        measures=(
            f"wall time of a pytest subprocess at -n {WORKERS} whose {TESTS} tests each start "
            "the busybox httpd with testcontainers (no plugin fixture), wait for its first "
            "HTTP answer on the mapped port and stop it. A: --docker-pool of this machine's "
            "engine and a nested Docker 20.10 over TCP+TLS on the same 2 cores (two workers "
            "each); B: the machine's engine alone, discovered"
        ),
        target="ratio <= 1.05",
        check=ratio_at_most(1.05),
    )
    files = workloads.tc_workload(engine.BUSYBOX_IMAGE, harness.labels(), TESTS)
    with tempfile.TemporaryDirectory(prefix="pdh-bench-pool-") as tmp:
        url, certs, container, volume = _second_engine(Path(tmp))
        try:
            pooled = harness.clean_env(
                PYTEST_DOCKER_POOL=f"{HERE},{url}",
                DOCKER_CERT_PATH=str(certs),
                DOCKER_TLS_VERIFY="1",
            )
            alone = harness.clean_env()
            args = ("-p", "dockerhost", "-n", WORKERS)
            with harness.workspace(files) as root:
                alternate(
                    [
                        lambda: harness.run(pytest_cmd(*args), env=pooled, cwd=root) and None,
                        lambda: harness.run(pytest_cmd(*args), env=alone, cwd=root) and None,
                    ],
                    [result.a, result.b],
                    reps=plan.reps(9),
                    warmup=plan.slow_warmup,
                    progress="pool",
                )
        finally:
            engine.remove(container, volume)
    return result
