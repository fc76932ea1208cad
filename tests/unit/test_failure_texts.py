"""The exact fix users get for each kind of failure and each state of the machine.

messages/failures.py takes the machine's state as arguments, so these pin the text for
facts chosen here (in a container or not, the socket's gid and our groups, on ARC or not),
whatever machine runs the suite. discovery/diagnosis.py's reading of the machine is checked
against real files."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import get_args

import pytest

from pytest_dockerhost.discovery.diagnosis import attempt, explain, machine_facts, socket_facts
from pytest_dockerhost.discovery.network import detect
from pytest_dockerhost.engine.transport import Failure, FailureKind
from pytest_dockerhost.engine.url import parse_url
from pytest_dockerhost.messages import failures as say_
from pytest_dockerhost.messages.catalogue import catalogue
from pytest_dockerhost.messages.failures import Attempt, MachineFacts, SocketFacts

TCP = Attempt("DOCKER_HOST", "tcp://docker:2376", host="docker", tls_source="DOCKER_CERT_PATH=/c")
WAIT = (
    "if the daemon is still starting (a CI service container), use --docker-mode=dind, "
    "which waits for it up to --docker-timeout seconds"
)
SILENT = (
    "something at tcp://docker:2376 accepts connections but does not answer as Docker does; "
    "check the host and port in DOCKER_HOST (Docker listens on 2376 with TLS, 2375 without)"
)
TLS_PORT = (
    "check that tcp://docker:2376 is a TLS Docker port (2376) and that the certificates from "
    "DOCKER_CERT_PATH=/c belong to it"
)
NOT_DOCKER_PORT = "check the host and port in DOCKER_HOST; Docker listens on 2376 (TLS) or 2375"
SOCKET_PATH = "point DOCKER_HOST at the daemon's socket, usually /var/run/docker.sock"

# kind -> (what happened, the fix) for a failure with detail "DETAIL" on TCP.
EXPECTED = {
    "api-too-old": (
        "DETAIL",
        "upgrade the Docker engine at tcp://docker:2376, or point DOCKER_HOST at a newer one "
        "(docker-py 7 needs API 1.24, engine 1.12 or later)",
    ),
    "cert-garbage": (
        "DETAIL",
        "replace the damaged file with the one the daemon made (DOCKER_CERT_PATH=/c)",
    ),
    "cert-mismatch": (
        "DETAIL",
        "copy cert.pem and key.pem together from the same folder (DOCKER_CERT_PATH=/c)",
    ),
    "cert-missing": (
        "DETAIL",
        "TLS material comes from DOCKER_CERT_PATH=/c: point DOCKER_CERT_PATH (or "
        "--docker-cert-path) at a folder holding ca.pem, cert.pem and key.pem; with "
        "docker:dind that is the shared /certs/client volume",
    ),
    "cert-unreadable": (
        "DETAIL",
        "make the file readable by this user (it comes from DOCKER_CERT_PATH=/c); keep the key "
        "at 0600 owned by the user who runs pytest",
    ),
    "connect-error": ("DETAIL", SILENT),
    "dns": (
        "DETAIL",
        "check the host name in DOCKER_HOST; in compose and GitLab the dind service is reached "
        "by its service name (usually `docker`) on the same network",
    ),
    "empty-reply": (
        "tcp://docker:2376: DETAIL",
        "the daemon may still be starting, or this is not a Docker port; " + WAIT,
    ),
    "http-to-https": (
        "tcp://docker:2376 speaks TLS, but the client sent plain HTTP "
        '("Client sent an HTTP request to an HTTPS server")',
        "turn TLS on: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH to the folder with ca.pem, "
        "cert.pem and key.pem (docker:dind writes them to /certs/client), or pass "
        "--docker-tls-verify --docker-cert-path DIR",
    ),
    "https-to-http": (
        "tcp://docker:2376 speaks plain HTTP, but the client started TLS (TLS from "
        "DOCKER_CERT_PATH=/c)",
        "this daemon has TLS off (usually port 2375): either enable TLS on it "
        "(DOCKER_TLS_CERTDIR=/certs, port 2376), or connect to it without TLS by unsetting "
        "DOCKER_TLS_VERIFY and DOCKER_CERT_PATH. pytest-dockerhost never drops TLS by itself",
    ),
    "not-docker": (
        "tcp://docker:2376 answered, but it is not a Docker engine: DETAIL",
        NOT_DOCKER_PORT,
    ),
    "not-http": ("tcp://docker:2376 answered, but not with HTTP: DETAIL", NOT_DOCKER_PORT),
    "not-ready": (
        "tcp://docker:2376: DETAIL",
        "the daemon may still be starting, or this is not a Docker port; " + WAIT,
    ),
    "refused": (
        "DETAIL",
        "check that a Docker daemon listens on tcp://docker:2376 (2376 with TLS, 2375 "
        "without); " + WAIT,
    ),
    "no-unix-sockets": (
        "DETAIL",
        "run pytest inside WSL2, where the engine's unix socket works, or expose the engine on "
        "TCP (Docker Desktop: Settings > General > 'Expose daemon on tcp://localhost:2375 "
        "without TLS') and set DOCKER_HOST=tcp://localhost:2375",
    ),
    "scheme": ("DETAIL", "give DOCKER_HOST a unix://, tcp:// or ssh:// URL"),
    "silent": ("DETAIL", SILENT),
    "socket-dangling": ("DETAIL", SOCKET_PATH),
    "socket-error": (
        "DETAIL",
        "check that the path in DOCKER_HOST is a Docker socket that this user may open, and "
        "that the folders above it are searchable",
    ),
    "socket-missing": ("DETAIL", "start Docker, or set DOCKER_HOST to a daemon that runs"),
    "socket-not-socket": ("DETAIL", SOCKET_PATH),
    "socket-stale": (
        "DETAIL",
        "start the daemon (dockerd, or systemctl start docker); if the socket was "
        "bind-mounted from a host whose daemon restarted, restart this container",
    ),
    "ssh-auth": (
        "ssh to docker was refused: no key it accepts (DETAIL)",
        "load the key into the agent (ssh-add KEY, with SSH_AUTH_SOCK set for pytest) or name "
        "it in ~/.ssh/config (Host docker / IdentityFile KEY); its public key must be in the "
        "remote user's ~/.ssh/authorized_keys",
    ),
    "ssh-error": (
        "ssh to tcp://docker:2376 failed: DETAIL",
        "check that `ssh docker true` works here without a prompt, and that the engine's "
        "socket /var/run/docker.sock exists on the remote host (give another path in "
        "DOCKER_HOST: ssh://user@host/run/user/1000/podman/podman.sock)",
    ),
    "ssh-host-key": (
        "ssh to docker: this machine does not know the host's key (DETAIL)",
        "check the host's key fingerprint, then add it to ~/.ssh/known_hosts (ssh-keyscan "
        "docker >> ~/.ssh/known_hosts, or connect once with `ssh docker`); on CI, put the key "
        "in the job's known_hosts from a secret",
    ),
    "ssh-missing": (
        "DETAIL",
        "install the OpenSSH client (apt-get install openssh-client) or, in DOCKER_HOST, use "
        "tcp://HOST:2376 with TLS instead of ssh://",
    ),
    "ssh-unreachable": (
        "ssh cannot reach docker: DETAIL",
        "check the host and port in DOCKER_HOST and in ~/.ssh/config, and that sshd runs there "
        "and lets this machine in",
    ),
    "timeout": ("DETAIL", SILENT),
    "tls-client-rejected": (
        "the daemon at tcp://docker:2376 refused our client certificate (DETAIL)",
        "use the cert.pem and key.pem made by the same daemon run (TLS from "
        "DOCKER_CERT_PATH=/c): they must be signed by the daemon's CA and not expired; with "
        "docker:dind, copy /certs/client again after every restart",
    ),
    "tls-eof": (
        "tcp://docker:2376: DETAIL",
        "a TLS Docker daemon hangs up like this when it refuses the client certificate "
        "(missing, expired, or signed by another CA): use the cert.pem and key.pem made by the "
        "same daemon run (TLS from DOCKER_CERT_PATH=/c; docker:dind writes them to "
        "/certs/client); also check the host and port in DOCKER_HOST",
    ),
    "tls-error": ("the TLS handshake with tcp://docker:2376 failed (DETAIL)", TLS_PORT),
    "tls-reset": ("the TLS handshake with tcp://docker:2376 failed (DETAIL)", TLS_PORT),
    "tls-timeout": (
        "tcp://docker:2376: DETAIL",
        "TLS is on (from DOCKER_CERT_PATH=/c) but nothing at tcp://docker:2376 answered it: if "
        'this is a plain port (2375, DOCKER_TLS_CERTDIR=""), turn TLS off by unsetting '
        "DOCKER_TLS_VERIFY and DOCKER_CERT_PATH; otherwise check the host and port in "
        "DOCKER_HOST",
    ),
    "tls-verify": (
        "the daemon's certificate failed verification: DETAIL",
        "the CA in DOCKER_CERT_PATH=/c did not sign the daemon's certificate: use the ca.pem "
        "from the same run of the daemon (docker:dind: /certs/client/ca.pem)",
    ),
    "unreachable": ("DETAIL", SILENT),
}


def test_every_failure_kind_has_its_own_pinned_text() -> None:
    kinds = {kind.value for kind in FailureKind}
    assert kinds - {"socket-eacces"} == set(EXPECTED)


def test_messages_name_the_failure_kinds_the_engine_has() -> None:
    assert set(get_args(say_.ProbeFailure)) == {kind.value for kind in FailureKind}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_the_exact_text_per_kind(kind: str) -> None:
    assert say_.explain(kind, "DETAIL", TCP, MachineFacts()) == EXPECTED[kind]


@pytest.mark.parametrize("kind", [kind for kind in FailureKind])
def test_no_kind_falls_to_the_generic_fix(kind: FailureKind) -> None:
    """Each kind has a fix of its own; "check <source>" is for a kind nobody wrote one for."""
    at = Attempt("DOCKER_HOST", "unix:///run/d.sock", path="/run/d.sock")
    _, fix = say_.explain(kind.value, "DETAIL", at, MachineFacts())
    assert fix != "check DOCKER_HOST"
    assert say_.explain("no-such-kind", "DETAIL", at, MachineFacts()) == (
        "DETAIL",
        "check DOCKER_HOST",
    )


def test_a_missing_socket_inside_a_container_asks_for_the_hosts_socket() -> None:
    _, fix = say_.explain("socket-missing", "x", TCP, MachineFacts(in_container=True))
    assert fix == (
        "mount the host's socket into this container: docker run -v "
        "/var/run/docker.sock:/var/run/docker.sock ... (plus --group-add with the socket's "
        "gid), or set DOCKER_HOST=tcp://docker:2376 for a dind service"
    )


def test_after_a_wait_the_fix_says_how_long_and_which_option() -> None:
    _, fix = say_.explain("refused", "x", TCP, MachineFacts(), waited=12.34)
    assert fix.endswith(
        "; it did not become ready within 12.3 s; raise --docker-timeout (ini docker_timeout, "
        "env PYTEST_DOCKER_TIMEOUT) if the daemon needs longer to start"
    )


@pytest.mark.parametrize(
    ("host", "detail", "fix"),
    [
        (
            "10.1.2.3",
            "IP address mismatch, certificate is not valid for '10.1.2.3'",
            "connect by a name the certificate covers (docker:dind covers `docker`, "
            "`localhost`, 127.0.0.1 and its own IPs), or add 10.1.2.3 to it with "
            'DOCKER_TLS_SAN="IP:10.1.2.3" on the dind container',
        ),
        (
            "dind.ci",
            "Hostname mismatch, certificate is not valid for 'dind.ci'",
            "connect by a name the certificate covers (docker:dind covers `docker`, "
            "`localhost`, 127.0.0.1 and its own IPs), or add dind.ci to it with "
            'DOCKER_TLS_SAN="DNS:dind.ci" on the dind container',
        ),
        (
            "docker",
            "certificate has expired",
            "the daemon's certificate is outside its validity period; check the clocks, and "
            "restart the dind container so that it signs a new one",
        ),
        (
            "docker",
            "CA cert does not include key usage extension",
            "the certificates were made without the key-usage extensions that Python 3.13+ "
            "requires (docker:dind images before 2025 made them so): update the dind image, or "
            "regenerate its certificates with keyUsage on the CA and the server certificate; "
            "until then --docker-tls-x509-strict=false relaxes that one check",
        ),
    ],
)
def test_a_failed_verification_gets_the_fix_for_its_cause(host: str, detail: str, fix: str) -> None:
    at = Attempt("DOCKER_HOST", f"tcp://{host}:2376", host=host, tls_source="T")
    what, got = say_.explain("tls-verify", detail, at, MachineFacts())
    assert (what, got) == (f"the daemon's certificate failed verification: {detail}", fix)


def test_ssh_names_the_user_and_host_to_try() -> None:
    at = Attempt("DOCKER_HOST", "ssh://ci@build", host="build", user="ci")
    _, fix = say_.explain("ssh-error", "exit 255", at, MachineFacts())
    assert "`ssh ci@build true`" in fix
    podman = Attempt(
        "CONTAINER_HOST", "ssh://ci@b/run/p.sock", host="b", user="ci", path="/run/p.sock"
    )
    _, fix = say_.explain("ssh-error", "exit 255", podman, MachineFacts())
    assert "socket /run/p.sock exists on the remote host" in fix


# ---- the socket refused us (EACCES) ---------------------------------------------------------

JENKINS = SocketFacts(
    mode="srw-rw----",
    owner_uid=0,
    gid=999,
    group=None,
    uid=1000,
    user="jenkins",
    groups=((1000, "jenkins"), (998, "docker")),
    docker_gid=998,
)


def test_permission_denied_names_the_gid_our_groups_and_the_mismatch() -> None:
    path = "/var/run/docker.sock"
    what, fix = say_.socket_permission(path, JENKINS)
    assert what == (
        "permission denied on /var/run/docker.sock: the socket is srw-rw---- owned by uid 0, "
        "gid 999 (no name here); this process runs as jenkins (uid 1000) with groups "
        "998 (docker), 1000 (jenkins), none of which is 999. The `docker` group here has gid "
        "998, which differs from the socket's gid 999: the usual DooD mismatch"
    )
    assert fix == (
        "give this process the socket's group, gid 999: `docker run --group-add 999 ...`; "
        'in compose, `group_add: ["999"]`; '
        "in a Jenkinsfile, `agent { docker { image '...'; args '--group-add 999' } }`; "
        "or at image build time, `ARG DOCKER_GID=999` and "
        "`RUN groupmod -g ${DOCKER_GID} docker && usermod -aG docker jenkins`. "
        "Check with `stat -c %g /var/run/docker.sock` against "
        "`getent group docker | cut -d: -f3`"
    )
    assert "chmod" not in fix
    assert "666" not in what + fix


def test_permission_denied_without_a_docker_group_or_a_user_name() -> None:
    facts = SocketFacts("srw-rw----", 0, 105, "docker", 4242, None, ((4242, None),), None)
    what, fix = say_.socket_permission("/s.sock", facts)
    assert what == (
        "permission denied on /s.sock: the socket is srw-rw---- owned by uid 0, gid 105 "
        "(docker); this process runs as 4242 (uid 4242) with groups 4242 (no name here), "
        "none of which is 105"
    )
    assert fix.endswith(
        "usermod -aG docker 4242`. Check with `stat -c %g /s.sock` against "
        "`getent group docker | cut -d: -f3`"
    )


def test_permission_denied_when_the_socket_cannot_be_read() -> None:
    assert say_.socket_permission("/s.sock", None) == (
        "permission denied on /s.sock, and its owner cannot be read",
        "check the permissions of the socket and the folders above it",
    )


def test_on_arc_group_123_gets_arcs_own_fix_and_only_there() -> None:
    arc = SocketFacts("srw-rw----", 0, 123, None, 1001, "runner", ((1001, "runner"),), None)
    _, here = say_.socket_permission("/run/docker/docker.sock", arc, on_arc=False)
    _, on_arc = say_.socket_permission("/run/docker/docker.sock", arc, on_arc=True)
    assert on_arc == here + ". " + (
        "On ARC (containerMode: dind makes the socket group 123), in the runner scale set's "
        "values: `template: {spec: {securityContext: {supplementalGroups: [123]}}}` "
        "(or `fsGroup: 123`); or give the job image that group: "
        "`RUN groupadd -g 123 docker && usermod -aG docker runner`"
    )
    other = SocketFacts("srw-rw----", 0, 124, None, 1001, "runner", ((1001, "runner"),), None)
    _, not_123 = say_.socket_permission("/s", other, on_arc=True)
    assert "ARC" not in not_123


def test_eacces_goes_through_explain_with_the_facts_given() -> None:
    url = parse_url("unix:///var/run/docker.sock")
    failure = Failure(FailureKind.SOCKET_EACCES, "permission denied on /var/run/docker.sock")
    facts = MachineFacts(socket=JENKINS)
    assert explain(failure, url, None, "DOCKER_HOST", facts=facts) == say_.socket_permission(
        "/var/run/docker.sock", JENKINS
    )


# ---- what diagnosis reads of this machine ---------------------------------------------------


def test_the_facts_read_are_the_ones_the_kind_needs() -> None:
    url = parse_url("unix:///nowhere/d.sock")
    assert machine_facts(FailureKind.REFUSED, url) == MachineFacts()
    assert machine_facts(FailureKind.SOCKET_MISSING, url) == MachineFacts(
        in_container=detect().in_container
    )
    eacces = machine_facts(FailureKind.SOCKET_EACCES, url)
    assert eacces.socket is None  # nothing there to stat


def test_socket_facts_are_the_real_files(short_dir: Path) -> None:
    path = str(short_dir / "d.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    try:
        os.chmod(path, 0o660)
        facts = socket_facts(path)
    finally:
        sock.close()
    st = os.stat(path)
    assert facts is not None
    assert (facts.mode, facts.owner_uid, facts.gid) == ("srw-rw----", st.st_uid, st.st_gid)
    assert facts.uid == os.getuid()
    assert {gid for gid, _ in facts.groups} == {os.getegid(), *os.getgroups()}


def test_the_attempt_carries_the_urls_pieces() -> None:
    url = parse_url("ssh://ci@build")
    assert attempt(url, None, "DOCKER_HOST") == Attempt(
        "DOCKER_HOST", "ssh://ci@build", host="build", user="ci"
    )
    assert attempt(None, None, "x") == Attempt("x")


# ---- the failure catalogue and the troubleshooting page --------------------------------------


def _troubleshooting() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "docs" / "gen" / "troubleshooting.py"
    spec = importlib.util.spec_from_file_location("troubleshooting_page", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_failure_kind_has_a_catalogue_entry() -> None:
    listed = [kind for entry in catalogue() for kind in entry.kinds]
    assert {kind.value for kind in FailureKind} <= set(listed)
    assert len(listed) == len(set(listed)), "a kind listed twice"


def test_the_failures_met_after_resolution_are_in_the_catalogue() -> None:
    kinds = {kind for entry in catalogue() for kind in entry.kinds}
    assert {
        "no-endpoint",
        "endpoint-lost",
        "bind-mount-unseen",
        "sidecar-privileged-refused",
        "setting-invalid",
    } <= kinds


def test_catalogue_entries_are_searchable_and_say_something() -> None:
    entries = catalogue()
    titles = [entry.title for entry in entries]
    assert len(titles) == len(set(titles))
    probe_kinds = {kind.value for kind in FailureKind}
    for entry in entries:
        assert entry.means, entry
        assert entry.says, entry
        # A probe failure's fix is said apart from what happened (most later failures are
        # one paragraph that carries its own fix).
        if entry.kinds[0] in probe_kinds:
            assert entry.fixes, entry


def test_the_catalogue_says_what_users_see() -> None:
    """The entries are the plugin's words for the example facts, not copies of them."""
    (eacces,) = [entry for entry in catalogue() if entry.kinds == ("socket-eacces",)]
    what, fix = say_.socket_permission("/var/run/docker.sock", JENKINS)
    assert (eacces.says, eacces.fixes[0].text) == (what, fix)
    assert "unable to apply caps: operation not permitted" in " ".join(
        entry.title for entry in catalogue()
    )
    (http,) = [entry for entry in catalogue() if entry.kinds == ("http-to-https",)]
    assert http.title == "Client sent an HTTP request to an HTTPS server."


def test_the_troubleshooting_page_has_every_entry() -> None:
    page = _troubleshooting().render()
    assert page.startswith("# Troubleshooting\n")
    for entry in catalogue():
        assert f"\n## `{entry.title}`\n" in page, entry.title
        assert entry.says in page
        for fix in entry.fixes:
            assert fix.text in page
    assert page.count("\n## ") == len(catalogue())


def test_the_troubleshooting_page_is_plain_markdown() -> None:
    """No links (the page must build whatever pages exist), no raw HTML, closed code spans."""
    page = _troubleshooting().render()
    assert "](" not in page
    assert "<" not in page
    fenced = False
    for line in page.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            assert line.count("`") % 2 == 0, line
    assert not fenced


WITHOUT_GRP_AND_PWD = """
import sys
sys.modules["grp"] = None  # as on Windows: importing them raises ImportError
sys.modules["pwd"] = None
import pytest_dockerhost.plugin
from pytest_dockerhost.discovery.diagnosis import explain
from pytest_dockerhost.engine.transport import Failure, FailureKind
from pytest_dockerhost.engine.url import DockerURL
print(explain(Failure(FailureKind.REFUSED, "refused"), DockerURL("tcp", "h", 1), None, "S")[0])
"""


def test_the_plugin_loads_and_explains_where_grp_and_pwd_do_not_exist() -> None:
    child = subprocess.run(
        [sys.executable, "-c", WITHOUT_GRP_AND_PWD],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (child.returncode, child.stdout) == (0, "refused\n"), child.stderr
