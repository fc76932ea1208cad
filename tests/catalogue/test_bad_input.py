"""The bad-input catalogue: every way users get Docker's configuration wrong, run as they
would hit it (a pytest subprocess with --docker-required and a test that needs Docker).

Each case must end within 3 s, print one paragraph that names the setting's source, what
happened and the fix, and print no Python traceback. The cases are also the source of the
README's troubleshooting table: with ``PYTEST_DOCKERHOST_CATALOGUE_OUT=FILE`` set, each case
appends its id and the paragraph it matched to FILE as a JSON line.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ..helpers import cannot_run_as_user
from .conftest import USER_UID

pytestmark = pytest.mark.catalogue

BOUND = 3.0  # seconds: the behaviour bound every case must meet
SYSTEM_SOCKET = "/var/run/docker.sock"
TRACEBACK = "Traceback (most recent call last)"
DOCKER_TEST = "def test_needs_docker(docker_host):\n    assert docker_host.engine_version\n"

Setup = Callable[[Path, dict[str, str]], None]


@dataclass(frozen=True)
class Case:
    """One bad input. ``source`` starts the paragraph; ``what`` and ``fix`` must be in it."""

    id: str
    source: str
    what: str
    fix: str
    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    setup: Setup | None = None
    # fail: the Docker test errors; usage: exit 4; fallback: a source that auto mode may pass
    # over, so the run passes on the system socket when an engine answers there, else fails
    outcome: str = "fail"
    as_user: bool = False  # run as uid 1000 without the socket's group (setpriv)
    needs_engine: bool = False
    required: bool = True  # pass --docker-required


def _write(relative: str, text: str) -> Setup:
    def setup(home: Path, lab: dict[str, str]) -> None:
        path = home / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.format(**lab))

    return setup


def _context(name: str, host: str | None, meta_text: str | None = None) -> Setup:
    def setup(home: Path, lab: dict[str, str]) -> None:
        digest = hashlib.sha256(name.encode()).hexdigest()
        meta = home / ".docker" / "contexts" / "meta" / digest
        meta.mkdir(parents=True)
        shown = host.format(**lab) if host is not None else None
        data = {"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": shown}}}
        text = meta_text if meta_text is not None else json.dumps(data)
        (meta / "meta.json").write_text(text)

    return setup


def _both(*steps: Setup) -> Setup:
    def setup(home: Path, lab: dict[str, str]) -> None:
        for step in steps:
            step(home, lab)

    return setup


TLS_ON = {"DOCKER_TLS_VERIFY": "1"}
BAD_URL = "DOCKER_HOST={raw} is not a valid Docker URL"


def _url(case_id: str, raw: str, what: str, fix: str) -> Case:
    return Case(
        case_id,
        "DOCKER_HOST: ",
        what,
        f"fix: in DOCKER_HOST, {fix}",
        env={"DOCKER_HOST": raw},
    )


CASES: list[Case] = [
    # ---- DOCKER_HOST values ----------------------------------------------------------------
    Case(
        "docker-host-empty",
        "ERROR: pytest-dockerhost: DOCKER_HOST is set but empty",
        "",
        "Unset it to let pytest-dockerhost discover the daemon",
        env={"DOCKER_HOST": ""},
        outcome="usage",
    ),
    Case(
        "docker-host-whitespace",
        "ERROR: pytest-dockerhost: DOCKER_HOST is set but blank (only whitespace)",
        "",
        "or set it to unix:///var/run/docker.sock or tcp://HOST:2376",
        env={"DOCKER_HOST": "   "},
        outcome="usage",
    ),
    _url("tcp-no-host", "tcp://", "tcp:// has no host name", "write tcp://HOST:2376 (TLS)"),
    _url("tcp-port-only", "tcp://:2376", "tcp:// has no host name", "write tcp://HOST:2376"),
    _url(
        "tcp-port-not-a-number",
        "tcp://docker:notaport",
        "the port 'notaport' is not a number",
        "write tcp://docker:2376 (TLS) or :2375 (TLS off)",
    ),
    _url(
        "tcp-port-out-of-range",
        "tcp://docker:70000",
        "the port 70000 is out of range (1-65535)",
        "write tcp://docker:2376 (TLS) or :2375 (TLS off)",
    ),
    _url(
        "http-scheme",
        "http://docker:2375",
        "Docker URLs use tcp://, not http://",
        "write tcp://docker:2375",
    ),
    _url(
        "https-scheme",
        "https://docker:2376",
        "Docker URLs use tcp:// with DOCKER_TLS_VERIFY=1, not https://",
        "write tcp://docker:2376 and set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH",
    ),
    _url("unix-empty-path", "unix://", "unix:// has no path", "write unix:///var/run/docker.sock"),
    _url(
        "unix-relative-path",
        "unix://relative/path",
        "unix://relative/path is a relative path; socket paths must be absolute",
        "write unix:///relative/path (three slashes)",
    ),
    _url(
        "bare-socket-path",
        "/var/run/docker.sock",
        "a socket path needs the unix:// scheme",
        "write unix:///var/run/docker.sock",
    ),
    _url("no-scheme", "docker:2376", "the URL has no scheme", "write tcp://HOST:PORT"),
    _url(
        "npipe-on-linux",
        "npipe:////./pipe/docker_engine",
        "npipe:// is a Windows named pipe",
        "use unix:///var/run/docker.sock or tcp://HOST:2376",
    ),
    _url(
        "fd-scheme",
        "fd://",
        "fd:// is systemd socket activation for dockerd itself, not a client URL",
        "use unix:///var/run/docker.sock",
    ),
    _url(
        "unicode-garbage",
        "tcp://☃dökér✓:2376",
        "'☃dökér✓' is not a valid host name",
        "use a DNS name or an IP address",
    ),
    _url(
        "control-characters",
        "tcp://docker\a:2376",
        "the URL contains spaces or control characters",
        "remove them",
    ),
    _url(
        "ten-kilobytes",
        "tcp://" + "a" * 10_000,
        "the URL is 10006 characters long, which is not a Docker URL",
        "check what fills this variable",
    ),
    Case(
        "unix-regular-file",
        "DOCKER_HOST: unix://{regular}",
        "{regular} is a regular file, not a socket",
        "fix: point DOCKER_HOST at the daemon's socket, usually /var/run/docker.sock",
        env={"DOCKER_HOST": "unix://{regular}"},
    ),
    Case(
        "unix-directory",
        "DOCKER_HOST: unix://{directory}",
        "{directory} is a directory, not a socket",
        "fix: point DOCKER_HOST at the daemon's socket",
        env={"DOCKER_HOST": "unix://{directory}"},
    ),
    Case(
        "unix-dangling-symlink",
        "DOCKER_HOST: unix://{dangling}",
        "{dangling} is a symlink to nothing",
        "fix: point DOCKER_HOST at the daemon's socket",
        env={"DOCKER_HOST": "unix://{dangling}"},
    ),
    Case(
        "ssh-without-client",
        "DOCKER_HOST: ssh://ci@build.invalid",
        "ssh:// needs the OpenSSH client (ssh), and none is on PATH",
        "fix: install the OpenSSH client (apt-get install openssh-client) or, in DOCKER_HOST, use "
        "tcp://HOST:2376",
        env={"DOCKER_HOST": "ssh://ci@build.invalid", "PATH": "{no_ssh_path}"},
    ),
    # ---- TLS ---------------------------------------------------------------------------------
    Case(
        "tls-cert-path-missing",
        "DOCKER_HOST: {tls_docker}",
        "CA file {nowhere}/ca.pem does not exist",
        "fix: TLS material comes from DOCKER_CERT_PATH={nowhere}: point DOCKER_CERT_PATH",
        env={"DOCKER_HOST": "{tls_docker}", **TLS_ON, "DOCKER_CERT_PATH": "{nowhere}"},
    ),
    *[
        Case(
            f"tls-{name}-missing",
            "DOCKER_HOST: {tls_docker}",
            f"{label} file {{no_{name}}}/{name}.pem does not exist",
            f"fix: TLS material comes from DOCKER_CERT_PATH={{no_{name}}}",
            env={"DOCKER_HOST": "{tls_docker}", **TLS_ON, "DOCKER_CERT_PATH": f"{{no_{name}}}"},
        )
        for name, label in (("ca", "CA"), ("cert", "client cert"), ("key", "client key"))
    ],
    Case(
        "tls-key-unreadable",
        "DOCKER_HOST: {tls_docker}",
        "client key file {unreadable}/key.pem is not readable by this user",
        "fix: make the file readable by this user (it comes from DOCKER_CERT_PATH={unreadable})",
        env={"DOCKER_HOST": "{tls_docker}", **TLS_ON, "DOCKER_CERT_PATH": "{unreadable}"},
        as_user=True,
    ),
    Case(
        "tls-key-not-matching-cert",
        "DOCKER_HOST: {tls_docker}",
        "{mismatch}/key.pem is not the key of {mismatch}/cert.pem",
        "fix: copy cert.pem and key.pem together from the same folder",
        env={"DOCKER_HOST": "{tls_docker}", **TLS_ON, "DOCKER_CERT_PATH": "{mismatch}"},
    ),
    Case(
        "tls-client-cert-from-another-ca",
        "DOCKER_HOST: {tls_docker}",
        "",
        "cert.pem and key.pem made by the same daemon run",
        env={"DOCKER_HOST": "{tls_docker}", **TLS_ON, "DOCKER_CERT_PATH": "{foreign_client}"},
    ),
    Case(
        "tls-ca-from-another-daemon",
        "DOCKER_HOST: {tls_docker}",
        "the daemon's certificate failed verification",
        "fix: the CA in DOCKER_CERT_PATH={other_ca} did not sign the daemon's certificate",
        env={"DOCKER_HOST": "{tls_docker}", **TLS_ON, "DOCKER_CERT_PATH": "{other_ca}"},
    ),
    Case(
        "tls-server-cert-expired",
        "DOCKER_HOST: {expired_srv}",
        "certificate has expired",
        "the daemon's certificate is outside its validity period; check the clocks",
        env={"DOCKER_HOST": "{expired_srv}", **TLS_ON, "DOCKER_CERT_PATH": "{certs}"},
    ),
    Case(
        "tls-server-cert-not-yet-valid",
        "DOCKER_HOST: {future_srv}",
        "certificate is not yet valid",
        "the daemon's certificate is outside its validity period; check the clocks",
        env={"DOCKER_HOST": "{future_srv}", **TLS_ON, "DOCKER_CERT_PATH": "{certs}"},
    ),
    Case(
        "tls-server-cert-without-the-host",
        "DOCKER_HOST: {nosan_srv}",
        "IP address mismatch, certificate is not valid for '127.0.0.1'",
        'add 127.0.0.1 to it with DOCKER_TLS_SAN="IP:127.0.0.1" on the dind container',
        env={"DOCKER_HOST": "{nosan_srv}", **TLS_ON, "DOCKER_CERT_PATH": "{certs}"},
    ),
    Case(
        "tls-ca-pem-garbage",
        "DOCKER_HOST: {tls_docker}",
        "CA file {garbage}/ca.pem is not a PEM certificate",
        "fix: replace the damaged file with the one the daemon made (DOCKER_CERT_PATH={garbage})",
        env={"DOCKER_HOST": "{tls_docker}", **TLS_ON, "DOCKER_CERT_PATH": "{garbage}"},
    ),
    Case(
        "tls-key-pem-garbage",
        "DOCKER_HOST: {tls_docker}",
        "is not valid PEM",
        "fix: replace the damaged file with the one the daemon made",
        env={"DOCKER_HOST": "{tls_docker}", **TLS_ON, "DOCKER_CERT_PATH": "{garbage_key}"},
    ),
    Case(
        "tls-on-against-a-plain-port",
        "DOCKER_HOST: {docker}",
        "{docker} speaks plain HTTP, but the client started TLS (TLS from DOCKER_CERT_PATH=",
        "connect to it without TLS by unsetting DOCKER_TLS_VERIFY and DOCKER_CERT_PATH",
        env={"DOCKER_HOST": "{docker}", **TLS_ON, "DOCKER_CERT_PATH": "{certs}"},
    ),
    Case(
        "plain-against-a-tls-port",
        "DOCKER_HOST: {tls_docker}",
        '{tls_docker} speaks TLS, but the client sent plain HTTP ("Client sent an HTTP request '
        'to an HTTPS server")',
        "fix: turn TLS on: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH to the folder with ca.pem",
        env={"DOCKER_HOST": "{tls_docker}"},
    ),
    Case(
        "docker-tls-verify-0",
        "warning: DOCKER_TLS_VERIFY=0 turns TLS verification ON",
        "as in the docker CLI, any non-empty value does",
        "Unset DOCKER_TLS_VERIFY to turn it off",
        env={"DOCKER_HOST": "{docker}", "DOCKER_TLS_VERIFY": "0", "DOCKER_CERT_PATH": "{certs}"},
    ),
    # ---- endpoints ---------------------------------------------------------------------------
    Case(
        "connection-refused",
        "DOCKER_HOST: {closed}",
        "127.0.0.1:{closed_port} refused the connection",
        "fix: check that a Docker daemon listens on {closed} (2376 with TLS, 2375 without)",
        env={"DOCKER_HOST": "{closed}"},
    ),
    Case(
        "never-answers",
        "DOCKER_HOST: {silent}",
        "connected, but nothing answered within 1.5 s",
        "does not answer as Docker does; check the host and port in DOCKER_HOST",
        env={"DOCKER_HOST": "{silent}"},
    ),
    Case(
        "answers-too-slowly",
        "DOCKER_HOST: {slow}",
        "connected, but nothing answered within 1.5 s",
        "check the host and port in DOCKER_HOST",
        env={"DOCKER_HOST": "{slow}"},
    ),
    Case(
        "not-docker-http",
        "DOCKER_HOST: {web}",
        "{web} answered, but it is not a Docker engine: /_ping answered HTTP 200 "
        "(Server: nginx/1.25.3) without Docker's API headers",
        "fix: check the host and port in DOCKER_HOST; Docker listens on 2376 (TLS) or 2375",
        env={"DOCKER_HOST": "{web}"},
    ),
    Case(
        "not-docker-tls",
        "DOCKER_HOST: {tls_web}",
        "{tls_web} answered, but it is not a Docker engine",
        "fix: check the host and port in DOCKER_HOST",
        env={"DOCKER_HOST": "{tls_web}", **TLS_ON, "DOCKER_CERT_PATH": "{certs}"},
    ),
    Case(
        "docker-api-too-old",
        "DOCKER_HOST: {old}",
        "engine 1.11.2 speaks API 1.23; docker-py needs 1.24 or newer",
        "fix: upgrade the Docker engine at {old}, or point DOCKER_HOST at a newer one",
        env={"DOCKER_HOST": "{old}"},
    ),
    Case(
        "dns-failure",
        "DOCKER_HOST: tcp://docker.invalid:2376",
        "cannot resolve 'docker.invalid'",
        "fix: check the host name in DOCKER_HOST; in compose and GitLab the dind service is "
        "reached by its service name",
        env={"DOCKER_HOST": "tcp://docker.invalid:2376"},
    ),
    Case(
        "dind-waits-bounded",
        "DOCKER_HOST: {closed}",
        "not ready after 1.",
        "did not become ready within 1.",
        env={"DOCKER_HOST": "{closed}"},
        args=("--docker-mode=dind", "--docker-timeout=1"),
    ),
    Case(
        "explicit-option-bad-url",
        "--docker-host: tcp://docker:notaport",
        "--docker-host=tcp://docker:notaport is not a valid Docker URL",
        "fix: in --docker-host, write tcp://docker:2376",
        args=("--docker-host", "tcp://docker:notaport"),
    ),
    Case(
        "ini-docker-host-bad-url",
        "ini docker_host: http://docker:2375",
        "ini docker_host=http://docker:2375 is not a valid Docker URL",
        "fix: in ini docker_host, write tcp://docker:2375",
        setup=_write("tox.ini", "[pytest]\ndocker_host = http://docker:2375\n"),
    ),
    Case(
        "docker-socket-option-regular-file",
        "--docker-socket: unix://{regular}",
        "{regular} is a regular file, not a socket",
        "fix: point --docker-socket at the daemon's socket",
        args=("--docker-socket", "{regular}"),
    ),
    # ---- sockets -----------------------------------------------------------------------------
    Case(
        "socket-stale",
        "DOCKER_HOST: unix://{stale}",
        "{stale} exists but no daemon listens on it",
        "fix: start the daemon (dockerd, or systemctl start docker)",
        env={"DOCKER_HOST": "unix://{stale}"},
    ),
    Case(
        "socket-owned-by-another-gid",
        "DOCKER_HOST: unix://{other_gid_sock}",
        "permission denied on {other_gid_sock}: the socket is srw-rw---- owned by uid 0, "
        "gid {other_gid}",
        "`docker run --group-add {other_gid} ...`",
        env={"DOCKER_HOST": "unix://{other_gid_sock}"},
        as_user=True,
    ),
    Case(
        "socket-eacces-system",
        f"{SYSTEM_SOCKET} (the system socket): unix://{SYSTEM_SOCKET}",
        "permission denied on /var/run/docker.sock: the socket is srw-rw---- owned by uid 0, "
        "gid {engine_gid}",
        "fix: give this process the socket's group, gid {engine_gid}: "
        "`docker run --group-add {engine_gid} ...`",
        as_user=True,
        needs_engine=True,
    ),
    # ---- config files ------------------------------------------------------------------------
    Case(
        "config-json-corrupt",
        "~/.docker/config.json",
        "~/.docker/config.json is not valid JSON",
        "fix: repair or remove ~/.docker/config.json",
        setup=_write(".docker/config.json", '{{"currentContext": "ci",'),
        outcome="fallback",
    ),
    Case(
        "current-context-missing",
        "context ci (currentContext in ~/.docker/config.json)",
        "the docker context 'ci' does not exist",
        "run `docker context use default`",
        setup=_write(".docker/config.json", '{{"currentContext": "ci"}}'),
        outcome="fallback",
    ),
    Case(
        "docker-context-variable-missing",
        "DOCKER_CONTEXT=ci: ",
        "the docker context 'ci' does not exist",
        "fix: run `docker context ls` to see the contexts that exist; unset DOCKER_CONTEXT",
        env={"DOCKER_CONTEXT": "ci"},
    ),
    Case(
        "context-meta-json-garbage",
        "DOCKER_CONTEXT=ci: ",
        "the docker context 'ci' has an unreadable meta.json",
        "fix: recreate it with `docker context rm ci` and `docker context create ci ...`",
        env={"DOCKER_CONTEXT": "ci"},
        setup=_context("ci", None, meta_text="\x00\x01 not json"),
    ),
    Case(
        "context-endpoint-refused",
        "context ci (currentContext in ~/.docker/config.json)",
        "127.0.0.1:{closed_port} refused the connection",
        "check that a Docker daemon listens on {closed}",
        setup=_both(
            _write(".docker/config.json", '{{"currentContext": "ci"}}'),
            _context("ci", "{closed}"),
        ),
        outcome="fallback",
    ),
    Case(
        "testcontainers-properties-escapes",
        "~/.testcontainers.properties tc.host",
        "127.0.0.1:{closed_port} refused the connection",
        "check that a Docker daemon listens on {closed}",
        setup=_write(
            ".testcontainers.properties",
            "# odd but valid Java properties\n"
            "docker.client.strategy : x\n"
            "tc.host = tcp\\://127.0.0.1\\:{closed_port}\n",
        ),
        outcome="fallback",
    ),
    Case(
        "testcontainers-properties-bad-url",
        "~/.testcontainers.properties tc.host",
        "~/.testcontainers.properties tc.host=tcp://docker:notaport is not a valid Docker URL",
        "in ~/.testcontainers.properties tc.host, write tcp://docker:2376",
        setup=_write(".testcontainers.properties", "tc.host=tcp\\://docker\\:not\\\n  aport\n"),
        outcome="fallback",
    ),
    # ---- options -----------------------------------------------------------------------------
    Case(
        "pool-entry-not-a-url",
        "ERROR: pytest-dockerhost: PYTEST_DOCKER_POOL='unix:///var/run/docker.sock,http://x:2375'"
        " is not valid",
        "http://x:2375 is not an engine URL",
        "it must start with unix://, tcp://, ssh://",
        env={"PYTEST_DOCKER_POOL": "unix:///var/run/docker.sock,http://x:2375"},
        outcome="usage",
    ),
    Case(
        "pool-sidecar-count-zero",
        "ERROR: pytest-dockerhost: --docker-pool is not valid",
        "sidecar*0: write sidecar for one sidecar or sidecar*N",
        "N a whole number from 1 to 8",
        args=("--docker-pool=sidecar*0",),
        outcome="usage",
    ),
    Case(
        "pool-sidecar-count-not-a-number",
        "ERROR: pytest-dockerhost: PYTEST_DOCKER_POOL='unix:///var/run/docker.sock,sidecar*x'"
        " is not valid",
        "sidecar*x: write sidecar for one sidecar or sidecar*N",
        "e.g. sidecar*2",
        env={"PYTEST_DOCKER_POOL": "unix:///var/run/docker.sock,sidecar*x"},
        outcome="usage",
    ),
    Case(
        "pool-sidecar-count-too-many",
        "ERROR: pytest-dockerhost: ini docker_pool is not valid",
        "sidecar*99: write sidecar for one sidecar or sidecar*N",
        "N a whole number from 1 to 8",
        setup=_write("tox.ini", "[pytest]\ndocker_pool = sidecar*99\n"),
        outcome="usage",
    ),
    Case(
        "pool-sidecar-in-sidecar-mode",
        "ERROR: pytest-dockerhost: --docker-pool lists sidecar*2 while --docker-mode is sidecar",
        "sidecar mode starts its one sidecar on the pool's first engine",
        "Drop the sidecar entries from --docker-pool, or the sidecar mode from --docker-mode",
        args=("--docker-pool=sidecar*2", "--docker-mode=sidecar"),
        outcome="usage",
    ),
    Case(
        "unknown-docker-mode",
        "ERROR: pytest-dockerhost: --docker-mode='bogus' is not valid",
        "must be one of auto, dood, dind, sidecar",
        "must be one of",
        args=("--docker-mode=bogus",),
        outcome="usage",
    ),
    Case(
        "unknown-docker-mode-ini",
        "ERROR: pytest-dockerhost: ini docker_mode='dnd' is not valid",
        "must be one of auto, dood, dind, sidecar",
        "must be one of",
        setup=_write("tox.ini", "[pytest]\ndocker_mode = dnd\n"),
        outcome="usage",
    ),
    Case(
        "negative-timeout",
        "ERROR: pytest-dockerhost: --docker-timeout='-3' is not valid",
        "must be a positive number of seconds",
        "must be a positive number of seconds",
        args=("--docker-timeout=-3",),
        outcome="usage",
    ),
    Case(
        "non-numeric-timeout",
        "ERROR: pytest-dockerhost: PYTEST_DOCKER_TIMEOUT='soon' is not valid",
        "must be a number of seconds",
        "such as 30 or 2.5",
        env={"PYTEST_DOCKER_TIMEOUT": "soon"},
        outcome="usage",
    ),
    Case(
        "bad-required-value",
        "ERROR: pytest-dockerhost: PYTEST_DOCKER_REQUIRED='maybe' is not valid",
        "must be true or false",
        "(1/0, yes/no, on/off)",
        env={"PYTEST_DOCKER_REQUIRED": "maybe"},
        outcome="usage",
        required=False,
    ),
]


def _engine_gid() -> str:
    try:
        return str(os.stat(SYSTEM_SOCKET).st_gid)
    except OSError:
        return "?"


def _values(lab: dict[str, str]) -> dict[str, str]:
    return {**lab, "engine_gid": _engine_gid()}


def _paragraphs(output: str, anchor: str) -> list[str]:
    """Every block that starts with a line holding ``anchor``, with its more-indented lines."""
    lines = output.splitlines()
    found: list[str] = []
    for index, line in enumerate(lines):
        if anchor not in line:
            continue
        indent = len(line) - len(line.lstrip())
        block = [line]
        for follow in lines[index + 1 :]:
            if follow.strip() and len(follow) - len(follow.lstrip()) > indent:
                block.append(follow)
            else:
                break
        found.append("\n".join(block))
    return found


@dataclass
class Run:
    ret: int
    output: str
    elapsed: float


def _run_here(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, case: Case, v: dict[str, str]
) -> Run:
    home = Path(os.environ["HOME"])
    if case.setup is not None:
        case.setup(home, v)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value.format(**v))
    pytester.makepyfile(test_needs_docker=DOCKER_TEST)
    args = [arg.format(**v) for arg in case.args]
    start = time.monotonic()
    if case.required:
        args.append("--docker-required")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=BOUND + 7)
    elapsed = time.monotonic() - start
    return Run(int(result.ret), result.stdout.str() + "\n" + result.stderr.str(), elapsed)


def run_as_user(
    case_env: dict[str, str],
    args: list[str],
    *,
    groups: tuple[int, ...] = (),
    setup: Setup | None = None,
    v: dict[str, str] | None = None,
) -> Run:
    """pytest as uid 1000 in its own folder, without the socket's group unless ``groups``."""
    folder = Path(tempfile.mkdtemp(prefix="pdh-user-", dir="/tmp"))
    try:
        (folder / "pytest.ini").write_text("[pytest]\n")
        (folder / "test_needs_docker.py").write_text(DOCKER_TEST)
        if setup is not None:
            setup(folder, v or {})
        for path in [folder, *folder.rglob("*")]:
            os.chown(path, USER_UID, USER_UID)
        env = {
            "HOME": str(folder),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "TESTCONTAINERS_RYUK_DISABLED": "true",
            **case_env,
        }
        who = ["--groups", ",".join(map(str, groups))] if groups else ["--clear-groups"]
        command = [
            "setpriv",
            f"--reuid={USER_UID}",
            f"--regid={USER_UID}",
            *who,
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--docker-required",
            *args,
        ]
        start = time.monotonic()
        done = subprocess.run(
            command,
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=BOUND + 7,
            check=False,
        )
        elapsed = time.monotonic() - start
        return Run(done.returncode, done.stdout + "\n" + done.stderr, elapsed)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _skip_reason(case: Case) -> str:
    if case.needs_engine and not os.path.exists(SYSTEM_SOCKET):
        return f"needs the real dockerd on {SYSTEM_SOCKET} (.ci/run starts it)"
    if case.as_user and cannot_run_as_user():
        return cannot_run_as_user()
    return ""


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(
    case: Case,
    lab: dict[str, str],
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reason = _skip_reason(case)
    if reason:
        pytest.skip(reason)
    v = _values(lab)
    if case.as_user:
        env = {name: value.format(**v) for name, value in case.env.items()}
        run = run_as_user(env, [arg.format(**v) for arg in case.args], setup=case.setup, v=v)
    else:
        run = _run_here(pytester, monkeypatch, case, v)

    assert run.elapsed < BOUND, f"{case.id} took {run.elapsed:.1f} s\n{run.output}"
    assert TRACEBACK not in run.output, run.output
    if case.outcome == "usage":
        assert run.ret == pytest.ExitCode.USAGE_ERROR, run.output
    elif case.outcome == "fail" or (case.outcome == "fallback" and not _system_socket_answers()):
        assert run.ret == pytest.ExitCode.TESTS_FAILED, run.output
        assert "1 error" in run.output, run.output
    else:
        assert case.outcome == "fallback", case.outcome
        assert run.ret == pytest.ExitCode.OK, run.output
        assert "docker: dood unix:///var/run/docker.sock" in run.output, run.output
    source = case.source.format(**v)
    wanted = [text.format(**v) for text in (case.what, case.fix) if text]
    blocks = _paragraphs(run.output, source)
    assert blocks, f"no paragraph names {source!r}:\n{run.output}"
    matching = [block for block in blocks if all(text in block for text in wanted)]
    assert matching, f"no paragraph starting with {source!r} holds {wanted!r}:\n" + "\n---\n".join(
        blocks
    )
    out = os.environ.get("PYTEST_DOCKERHOST_CATALOGUE_OUT")
    if out:
        with open(out, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"case": case.id, "paragraph": matching[-1]}) + "\n")
    assert "chmod 666" not in run.output
    assert "chmod 777" not in run.output


def _system_socket_answers() -> bool:
    import socket

    probe = socket.socket(socket.AF_UNIX)
    probe.settimeout(1.0)
    try:
        probe.connect(SYSTEM_SOCKET)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def test_every_case_has_its_own_id_and_a_known_outcome() -> None:
    assert len({case.id for case in CASES}) == len(CASES)
    assert {case.outcome for case in CASES} <= {"fail", "usage", "fallback"}
    for case in CASES:
        assert case.source, case.id
        assert case.what or case.fix, case.id


@pytest.mark.skipif(
    not os.path.exists(SYSTEM_SOCKET), reason=f"needs the real dockerd on {SYSTEM_SOCKET}"
)
def test_eacces_then_passes_with_the_group_added() -> None:
    """The real DooD trap: no group -> exact gid diagnosis; --group-add <gid> -> it passes."""
    if cannot_run_as_user():
        pytest.skip(cannot_run_as_user())
    gid = os.stat(SYSTEM_SOCKET).st_gid
    denied = run_as_user({}, [])
    assert denied.ret == pytest.ExitCode.TESTS_FAILED, denied.output
    assert f"gid {gid}" in denied.output
    assert f"`docker run --group-add {gid} ...`" in denied.output
    assert f'group_add: ["{gid}"]' in denied.output
    assert "chmod 666" not in denied.output
    assert TRACEBACK not in denied.output
    allowed = run_as_user({}, [], groups=(gid,))
    assert allowed.ret == pytest.ExitCode.OK, allowed.output
    assert "docker: dood unix:///var/run/docker.sock (engine" in allowed.output
    assert "1 passed" in allowed.output
