"""MQTT brokers for the closed loop: amqtt in-process (the default) and Mosquitto (CI, production-like).

Both bind only to 127.0.0.1 on a free port and expose the same small interface:
``start()``, ``stop()``, ``restart()`` and ``address`` (a :class:`BrokerAddress`).

* :class:`EmbeddedBroker` runs amqtt on its own thread and event loop, so it serves
  whatever the caller's loop is doing (a lockstep runner blocks its loop between awaits).
  asyncio sets TCP_NODELAY on the sockets it accepts. Anonymous clients are allowed; give
  clients a username anyway, since amqtt keeps QoS 1 messages for offline persistent
  sessions only for named clients.
* :class:`MosquittoBroker` runs ``mosquitto`` as a child process with a generated
  configuration: ``set_tcp_nodelay true``, a password file made with ``mosquitto_passwd``
  and an ACL file, so each account may publish and read only its own topics
  (:func:`closed_loop_acl`).
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

from twin.edge.bridge.mqtt import BrokerAddress
from virtual_plc.plc import LOOPBACK, free_port

EDGE_USER = "edge"
BRIDGE_USER = "bridge"


class BrokerError(RuntimeError):
    """A broker could not be started; the message says which and why."""


def wait_for_port(host: str, port: int, timeout_s: float) -> bool:
    """True once something accepts TCP connections on ``host:port`` (polled until ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


class EmbeddedBroker:
    """amqtt on a background thread, listening on 127.0.0.1 (a free port unless given)."""

    kind = "amqtt"

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.address = BrokerAddress(LOOPBACK, self.port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker = None
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.CRITICAL)

    def start(self) -> None:
        """Start serving (blocks until the listener accepts connections)."""
        from amqtt.broker import Broker  # imported here: the package is only needed when a broker runs

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"amqtt:{self.port}", daemon=True)
        self._thread.start()
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{LOOPBACK}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }

        async def boot() -> object:
            broker = Broker(config)
            await broker.start()
            return broker

        try:
            self._broker = asyncio.run_coroutine_threadsafe(boot(), self._loop).result(10)
        except Exception as err:
            self._halt_loop()
            raise BrokerError(f"amqtt on {LOOPBACK}:{self.port} did not start: {err}") from err

    def stop(self) -> None:
        """Stop the broker and its thread (safe to call twice)."""
        if self._broker is not None and self._loop is not None:
            broker, self._broker = self._broker, None
            try:
                asyncio.run_coroutine_threadsafe(broker.shutdown(), self._loop).result(10)
            except Exception:  # noqa: BLE001 - stopping anyway
                pass
        self._halt_loop()

    def restart(self) -> None:
        """Stop and start again on the same port (sessions and queued messages are lost)."""
        self.stop()
        self.start()

    def _halt_loop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
        self._loop = self._thread = None


def closed_loop_acl(plant: str) -> str:
    """Mosquitto ACL: the edge publishes commands and work orders of ``plant``, the bridge only acks."""
    return "\n".join([
        f"user {EDGE_USER}",
        f"topic write qt/{plant}/+/cmd/#",
        f"topic write qt/{plant}/+/workorder",
        f"topic read qt/{plant}/+/ack/#",
        f"user {BRIDGE_USER}",
        f"topic read qt/{plant}/+/cmd/#",
        f"topic write qt/{plant}/+/ack/#",
        "",
    ])


class MosquittoBroker:
    """A ``mosquitto`` child process with password file and ACL, on 127.0.0.1 and a free port."""

    kind = "mosquitto"

    def __init__(
        self,
        workdir: str | Path,
        users: dict[str, str],
        acl: str,
        *,
        port: int | None = None,
        nodelay: bool = True,
    ) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            raise BrokerError("mosquitto is not installed (apt-get install mosquitto; .ci/setup does it)")
        self.exe = exe
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.address = BrokerAddress(LOOPBACK, self.port)
        self.users = dict(users)
        self.nodelay = nodelay
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self._write_config(acl)
        self._process: subprocess.Popen[bytes] | None = None

    def account(self, username: str) -> BrokerAddress:
        """The broker's address under one of its accounts."""
        return self.address.as_user(username, self.users[username])

    def _write_config(self, acl: str) -> Path:
        passwords = self.workdir / "passwords"
        passwords.write_text("")
        for user, password in self.users.items():
            subprocess.run(["mosquitto_passwd", "-b", str(passwords), user, password], check=True,
                           capture_output=True, timeout=10)
        passwords.chmod(0o600)
        (self.workdir / "acl").write_text(acl)
        (self.workdir / "acl").chmod(0o600)
        config = self.workdir / "mosquitto.conf"
        config.write_text("\n".join([
            f"user {getpass.getuser()}",  # as root, mosquitto would switch to a user who cannot read these files
            f"listener {self.port} {LOOPBACK}",
            "allow_anonymous false",
            f"password_file {passwords}",
            f"acl_file {self.workdir / 'acl'}",
            f"set_tcp_nodelay {'true' if self.nodelay else 'false'}",
            "persistence false",
            "max_queued_messages 10000",
            f"log_dest file {self.workdir / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
            "",
        ]))
        return config

    def start(self) -> None:
        """Start the process; raises :class:`BrokerError` with its log when it does not listen."""
        stderr = self.workdir / "mosquitto.stderr"
        with stderr.open("ab") as sink:
            self._process = subprocess.Popen([self.exe, "-c", str(self.config_path)],
                                             stdout=subprocess.DEVNULL, stderr=sink)
        if not wait_for_port(LOOPBACK, self.port, 10):
            self.stop()
            logs = [p.read_text()[-1000:] for p in (self.workdir / "mosquitto.log", stderr) if p.exists()]
            raise BrokerError(f"mosquitto did not listen on {LOOPBACK}:{self.port}: " + " ".join(logs))

    def stop(self) -> None:
        """Terminate the process (safe to call twice)."""
        if self._process is not None:
            process, self._process = self._process, None
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    def restart(self) -> None:
        """Stop and start again on the same port (in-flight and queued messages are lost)."""
        self.stop()
        self.start()
