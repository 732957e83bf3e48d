"""Start the node-opcua interop server (tests/fixtures/opcua_server.js) for a test, on 127.0.0.1.

A third-party OPC UA stack for our asyncua-based edge client to be tested against. The server is a
Node.js script; its one dependency, ``node-opcua`` (pinned in package.json/package-lock.json), is
installed into ``node_modules/`` by ``npm ci`` in ``.ci/setup``.

Use it as a context manager::

    with node_opcua_server(tmp_path, secure=True) as server:
        server.endpoint                # "opc.tcp://127.0.0.1:<port>"
        server.namespace_uris["line"]  # "urn:qt-interop:line"
        with server.outage():          # stopped here, same port and certificate afterwards
            ...

or as a pytest fixture, made once per test module by :func:`node_opcua_fixture`::

    plain_server = node_opcua_fixture()                # module-scoped, anonymous, no security
    secure_server = node_opcua_fixture(secure=True)

What the server exposes (the JS file's header comment is the full reference). Namespace indexes are
not fixed: a client resolves them from the URIs (``Client.get_namespace_index(uri)``).

Plain mode: one endpoint, SecurityPolicy None / MessageSecurityMode None, anonymous login only.
Secure mode (``secure=True``): only Basic256Sha256 + SignAndEncrypt endpoints, no anonymous login;
user name ``operator`` / password ``s3cret-pw`` (:data:`DEFAULT_USERNAME`, :data:`DEFAULT_PASSWORD`,
or what was passed). A session on a None channel is refused (BadSecurityModeRejected), a wrong
password with BadUserAccessDenied; GetEndpoints on a None channel (discovery) still answers.
Unknown client certificates are trusted automatically (so asyncua's self-signed one is accepted);
the server's own certificate is :attr:`NodeOpcuaServer.server_certificate` (PEM) and
:attr:`NodeOpcuaServer.server_certificate_der` (DER), application URI ``urn:qt-interop:server``.

t is the DataValue's SourceTimestamp in Unix seconds (each moving value is an exact function of its
own SourceTimestamp, recomputed every 100 ms); n is whole seconds since the server process started.

=========================================  ===========  =================================================
node id                                    type         value
=========================================  ===========  =================================================
``ns=<line>;s=Line.Recipe``                String       ``"RECIPE-A"``
``ns=<line>;s=Line.Running``               Boolean      ``True``
``ns=<line>;s=Line.PartCount``             Int32        n (restarts at 0 with the process)
``ns=<line>;s=Line.OvenTemperature``       Double       150 + 10 sin(2πt/60); AnalogItemType, EURange
                                                        0..200, EngineeringUnits °C (UNECE CEL,
                                                        unitId 4408652, "degree Celsius")
``ns=<line>;s=Line.Profile``               Double[8]    [10k + sin(2πt/30 + kπ/4) for k in 0..7]
``ns=<line>;s=Line.SpeedSetpoint``         Double, rw   50.0 at start, keeps what is written; AnalogItemType,
                                                        EURange = InstrumentRange 0..100 (writes outside:
                                                        BadOutOfRange), EngineeringUnits % (P1, 20529)
``ns=<line>;s=Line.Speed``                 Double       SpeedSetpoint + 0.5 sin(2πt/10)
``ns=<line>;s=Line.LastChange``            DateTime     2025-01-01T00:00:00Z, then time of the last
                                                        setpoint write
``ns=<utilities>;i=1001`` SupplyPressure   Double       6 + 0.25 sin(2πt/20)
``ns=<utilities>;i=1002`` CoolingWaterOn   Boolean      ``True``
``ns=<utilities>;i=1003`` ShiftName        String       ``"B"``
=========================================  ===========  =================================================

The variables sit in ``Objects/Line`` (``ns=<line>;s=Line``) and ``Objects/Utilities``
(``ns=<utilities>;i=1000``), browse names in their own namespace. There is no clock node.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SERVER_SCRIPT = REPO / "tests" / "fixtures" / "opcua_server.js"
HOST = "127.0.0.1"
LINE_NS = "urn:qt-interop:line"
UTILITIES_NS = "urn:qt-interop:utilities"
SERVER_APPLICATION_URI = "urn:qt-interop:server"
DEFAULT_USERNAME = "operator"
DEFAULT_PASSWORD = "s3cret-pw"
READY_TIMEOUT_S = 60.0  # first start creates the server's key pair and loads the standard nodeset: a few seconds
STOP_TIMEOUT_S = 10.0


def free_port(host: str = HOST) -> int:
    """A TCP port the OS reports free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_accepts(port: int, host: str = HOST, timeout: float = 1.0) -> bool:
    """Whether something accepts a TCP connection on ``host:port`` right now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _require_node_opcua() -> str:
    node = shutil.which("node")
    assert node, "Node.js (node) is needed for the node-opcua interop server"
    assert (REPO / "node_modules" / "node-opcua" / "package.json").is_file(), (
        "node-opcua is not installed: run `npm ci` in the repository root (.ci/setup does)"
    )
    return node


@dataclass
class NodeOpcuaServer:
    """One node-opcua server on 127.0.0.1: what a client needs to reach it, and stop/start/restart.

    The working directory holds the PKI folder (kept across restarts, so the server certificate stays
    the same) and the logs of each run (``run-<k>.stdout.log`` / ``run-<k>.stderr.log``).
    """

    workdir: Path
    secure: bool = False
    port: int = 0  # 0: a free port is picked at the first start and kept for restarts
    username: str = DEFAULT_USERNAME
    password: str = DEFAULT_PASSWORD
    ready_timeout: float = READY_TIMEOUT_S
    host: str = field(default=HOST, init=False)
    namespace_uris: dict[str, str] = field(
        default_factory=lambda: {"line": LINE_NS, "utilities": UTILITIES_NS}, init=False
    )
    application_uri: str = field(default=SERVER_APPLICATION_URI, init=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _stdin: IO[bytes] | None = field(default=None, init=False, repr=False)
    _runs: int = field(default=0, init=False, repr=False)

    @property
    def endpoint(self) -> str:
        """``opc.tcp://127.0.0.1:<port>``."""
        return f"opc.tcp://{self.host}:{self.port}"

    @property
    def pki_dir(self) -> Path:
        """The server's PKI folder (``own/``, ``trusted/``, ``rejected/``, ``issuers/``; ``user/`` for user tokens)."""
        return self.workdir / "pki"

    @property
    def server_certificate(self) -> Path:
        """The server certificate, PEM (created by node-opcua at the first start)."""
        return self.pki_dir / "own" / "certs" / "certificate.pem"

    @property
    def server_certificate_der(self) -> Path:
        """The same certificate, DER (written by :meth:`start` once the server is ready)."""
        return self.workdir / "server_certificate.der"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_paths(self) -> tuple[Path, Path]:
        """stdout and stderr log of the latest run."""
        return (self.workdir / f"run-{self._runs}.stdout.log", self.workdir / f"run-{self._runs}.stderr.log")

    def start(self) -> NodeOpcuaServer:
        """Start the server (same port as before, if it ran) and wait for its READY line.

        Raises RuntimeError with the server's output if it exits or is not ready within ``ready_timeout``.
        """
        assert not self.running, "the server is already running"
        node = _require_node_opcua()
        self.workdir.mkdir(parents=True, exist_ok=True)
        first = self.port == 0
        for attempt in range(3):  # the first start picks a port; another process may take it first
            if first:
                self.port = free_port(self.host)
            try:
                self._launch(node)
                return self
            except _PortInUse:
                if not first or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _launch(self, node: str) -> None:
        self._runs += 1
        out_path, err_path = self.log_paths
        cmd = [node, str(SERVER_SCRIPT), "--port", str(self.port), "--pki", str(self.pki_dir), "--stdin-eof-exit"]
        if self.secure:
            cmd.append("--secure")
        env = {**os.environ, "QT_OPCUA_USER": self.username, "QT_OPCUA_PASSWORD": self.password}
        with out_path.open("wb") as out, err_path.open("wb") as err:
            self._proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=out, stderr=err)
        self._stdin = self._proc.stdin
        expected = f"READY {self.endpoint}"
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if expected in out_path.read_text(errors="replace").splitlines():
                break
            code = self._proc.poll()
            if code is not None or time.monotonic() > deadline:
                self._kill()
                output = self._output()
                if "EADDRINUSE" in output:
                    raise _PortInUse(output)
                why = f"exited with {code}" if code is not None else f"not ready after {self.ready_timeout:.0f} s"
                raise RuntimeError(f"node-opcua server on port {self.port} {why}:\n{output}")
            time.sleep(0.05)
        if not self.server_certificate_der.is_file():
            pem = self.server_certificate.read_text()
            first_cert = pem[: pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
            self.server_certificate_der.write_bytes(ssl.PEM_cert_to_DER_cert(first_cert.strip()))

    def _output(self) -> str:
        out_path, err_path = self.log_paths
        return f"--- stdout ---\n{_tail(out_path)}\n--- stderr ---\n{_tail(err_path)}"

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop the server: SIGTERM, then SIGKILL after ``timeout`` seconds. No-op if it is not running."""
        if self._proc is None:
            return
        try:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self._kill()
        finally:
            self._close_stdin()
            self._proc = None

    def _kill(self) -> None:
        assert self._proc is not None
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=STOP_TIMEOUT_S)
        self._close_stdin()

    def _close_stdin(self) -> None:
        if self._stdin is not None:
            with contextlib.suppress(OSError):
                self._stdin.close()
            self._stdin = None

    def restart(self, down_s: float = 0.0) -> NodeOpcuaServer:
        """Stop the server, stay down ``down_s`` seconds, start it again on the same port (same certificate)."""
        self.stop()
        if down_s > 0:
            time.sleep(down_s)
        return self.start()

    @contextlib.contextmanager
    def outage(self) -> Iterator[NodeOpcuaServer]:
        """Stopped inside the ``with`` block, started again (same port, same certificate) when it ends."""
        self.stop()
        try:
            yield self
        finally:
            self.start()

    def __enter__(self) -> NodeOpcuaServer:
        return self.start() if not self.running else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _PortInUse(RuntimeError):
    """The server could not listen: its port was taken meanwhile."""


def _tail(path: Path, limit: int = 6000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "<no output>"
    return text if len(text) <= limit else "...\n" + text[-limit:]


@contextlib.contextmanager
def node_opcua_server(
    workdir: Path,
    *,
    secure: bool = False,
    port: int = 0,
    username: str = DEFAULT_USERNAME,
    password: str = DEFAULT_PASSWORD,
    ready_timeout: float = READY_TIMEOUT_S,
) -> Iterator[NodeOpcuaServer]:
    """Run a node-opcua server on 127.0.0.1 (a free port unless ``port`` is given) for the ``with`` block."""
    server = NodeOpcuaServer(
        Path(workdir), secure=secure, port=port, username=username, password=password, ready_timeout=ready_timeout
    )
    with server:
        yield server


def node_opcua_fixture(*, secure: bool = False, scope: str = "module", **options: Any) -> Callable[..., Any]:
    """A pytest fixture that runs one node-opcua server per ``scope`` (see :func:`node_opcua_server`).

    Assign it to a name in a test module: ``secure_server = node_opcua_fixture(secure=True)``.
    """

    @pytest.fixture(scope=scope)
    def _node_opcua(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeOpcuaServer]:
        workdir = tmp_path_factory.mktemp("node-opcua-secure" if secure else "node-opcua")
        with node_opcua_server(workdir, secure=secure, **options) as server:
            yield server

    return _node_opcua
