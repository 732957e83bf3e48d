"""MQTT brokers for the closed loop: amqtt in-process (the default) and Mosquitto (CI, production-like).

Both bind only to 127.0.0.1 on a free port, refuse clients without an account, apply one topic
ACL and expose the same small interface: ``start()``, ``stop()``, ``restart()``, ``address`` (a
:class:`BrokerAddress`) and ``account(user)`` (the address under that user's login).

The accounts and the ACL are one description, a :class:`TopicAcl` (for the closed loop
:func:`closed_loop_acl`: the ``edge`` account publishes commands and work orders of its plant
and reads acks, the ``bridge`` account reads commands and publishes acks), rendered for each
broker. Passwords are random per broker (``secrets.token_urlsafe``) unless given.

* :class:`EmbeddedBroker` runs amqtt on its own thread and event loop, so it serves
  whatever the caller's loop is doing (a lockstep runner blocks its loop between awaits).
  asyncio sets TCP_NODELAY on the sockets it accepts. Logins are checked by amqtt's
  ``FileAuthPlugin`` (argon2 hashes in a password file that lives only while the broker starts;
  no username, an unknown user or a wrong password: refused), topics by
  :class:`~twin.edge.bridge.amqtt_acl.TopicAclPlugin`.
* :class:`MosquittoBroker` runs ``mosquitto`` as a child process with a generated
  configuration: ``set_tcp_nodelay true``, ``allow_anonymous false``, a password file made with
  ``mosquitto_passwd`` and the ACL file.

>>> acl = closed_loop_acl("coater")
>>> acl.users
['edge', 'bridge']
>>> print(acl.mosquitto().splitlines()[:3])
['user edge', 'topic read qt/coater/+/ack/#', 'topic write qt/coater/+/cmd/#']
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from twin.edge.bridge.mqtt import BrokerAddress
from virtual_plc.plc import LOOPBACK, free_port

EDGE_USER = "edge"
BRIDGE_USER = "bridge"
ACL_PLUGIN = "twin.edge.bridge.amqtt_acl.TopicAclPlugin"
AUTH_PLUGIN = "amqtt.plugins.authentication.FileAuthPlugin"


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


@dataclass(frozen=True)
class TopicAcl:
    """Per user, the topic filters it may read (subscribe to, receive) and write (publish).

    One description for both brokers: :meth:`mosquitto` renders the ACL file, :meth:`amqtt`
    the configuration of :class:`~twin.edge.bridge.amqtt_acl.TopicAclPlugin`. ``|`` merges two.
    """

    read: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    write: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def grant(cls, user: str, *, read: tuple[str, ...] = (), write: tuple[str, ...] = ()) -> TopicAcl:
        """An ACL naming one user."""
        return cls({user: tuple(read)}, {user: tuple(write)})

    def __or__(self, other: TopicAcl) -> TopicAcl:
        def merged(a: Mapping[str, tuple[str, ...]], b: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
            out = dict(a)
            for user, topics in b.items():
                out[user] = out.get(user, ()) + tuple(t for t in topics if t not in out.get(user, ()))
            return out

        return TopicAcl(merged(self.read, other.read), merged(self.write, other.write))

    @property
    def users(self) -> list[str]:
        """Every user the ACL names, in the order they were granted."""
        return list(dict.fromkeys([*self.read, *self.write]))

    def mosquitto(self) -> str:
        """The Mosquitto ``acl_file`` text."""
        lines = []
        for user in self.users:
            lines.append(f"user {user}")
            lines += [f"topic read {t}" for t in self.read.get(user, ())]
            lines += [f"topic write {t}" for t in self.write.get(user, ())]
        return "\n".join(lines) + "\n"

    def amqtt(self) -> dict[str, dict[str, list[str]]]:
        """The configuration of amqtt's :class:`~twin.edge.bridge.amqtt_acl.TopicAclPlugin`."""
        return {"read": {u: list(self.read.get(u, ())) for u in self.users},
                "write": {u: list(self.write.get(u, ())) for u in self.users}}


def closed_loop_acl(plant: str) -> TopicAcl:
    """The closed loop's ACL: the edge publishes commands and work orders of ``plant`` and reads acks;
    the bridge reads commands and publishes acks. Nobody else may do anything."""
    return (TopicAcl.grant(EDGE_USER, read=(f"qt/{plant}/+/ack/#",),
                           write=(f"qt/{plant}/+/cmd/#", f"qt/{plant}/+/workorder"))
            | TopicAcl.grant(BRIDGE_USER, read=(f"qt/{plant}/+/cmd/#",), write=(f"qt/{plant}/+/ack/#",)))


def random_passwords(users: list[str]) -> dict[str, str]:
    """A fresh random password for each user (for a broker whose caller gave none)."""
    return {user: secrets.token_urlsafe(18) for user in users}


class _Accounts:
    """What both brokers share: the listening address, the accounts and the ACL."""

    def __init__(self, acl: TopicAcl, users: Mapping[str, str] | None, port: int | None) -> None:
        self.acl = acl
        self.users = dict(users) if users is not None else random_passwords(acl.users)
        missing = [u for u in acl.users if u not in self.users]
        if missing:
            raise BrokerError(f"the ACL names users without a password: {', '.join(missing)}")
        self.port = port or free_port()
        self.address = BrokerAddress(LOOPBACK, self.port)

    def account(self, username: str) -> BrokerAddress:
        """The broker's address under one of its accounts (KeyError for a user it does not have)."""
        return self.address.as_user(username, self.users[username])


class _SnapshotSubscriptions(dict):  # type: ignore[type-arg]
    """amqtt's subscription table, whose ``items()`` is a snapshot (each subscriber list copied).

    amqtt 0.12's broadcast walks ``_subscriptions.items()`` and awaits the topic-check plug-in for each
    subscriber (``Broker._run_broadcast``); a client that disconnects meanwhile deletes its subscriptions
    (``_del_all_subscriptions``), so the walk either raises "dictionary changed size during iteration" or
    skips the next subscriber, and a QoS 1 message is lost without a word. With the ACL on (our default)
    it cost the supplier portal's OEM one message in about 550 in a CI run, and 42 of 1,500 in
    ``tests/twin/edge/bridge/test_broker_churn.py`` (which fails without this class). Walking a snapshot
    delivers to everyone subscribed when the message arrived."""

    def items(self):  # type: ignore[override]  # noqa: ANN201 - dict's own signature
        """A list of (filter, copy of its subscribers), safe to walk across awaits."""
        return [(key, list(value)) for key, value in super().items()]


class EmbeddedBroker(_Accounts):
    """amqtt on a background thread, listening on 127.0.0.1 (a free port unless given), with accounts and ACL.

    ``acl`` says who may do what (for the closed loop :func:`closed_loop_acl`); ``users`` maps each
    user to its password (default: a random one for every user the ACL names, see :meth:`account`).
    """

    kind = "amqtt"

    def __init__(self, acl: TopicAcl, users: Mapping[str, str] | None = None, *, port: int | None = None) -> None:
        super().__init__(acl, users, port)
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

        async def boot() -> object:
            with tempfile.TemporaryDirectory(prefix="qt-amqtt-") as workdir:  # read once, by Broker()
                passwords = Path(workdir) / "passwords"
                passwords.write_text(self._password_file(), encoding="utf-8")
                broker = Broker({
                    "listeners": {"default": {"type": "tcp", "bind": f"{LOOPBACK}:{self.port}"}},
                    "plugins": {AUTH_PLUGIN: {"password_file": str(passwords)}, ACL_PLUGIN: self.acl.amqtt()},
                })
            broker._subscriptions = _SnapshotSubscriptions(broker._subscriptions)  # noqa: SLF001 - see the class
            await broker.start()
            return broker

        try:
            self._broker = asyncio.run_coroutine_threadsafe(boot(), self._loop).result(10)
        except Exception as err:
            self._halt_loop()
            raise BrokerError(f"amqtt on {LOOPBACK}:{self.port} did not start: {err}") from err

    def _password_file(self) -> str:
        """``user:hash`` lines for amqtt's FileAuthPlugin. Argon2 with light settings: the passwords are
        random (or the caller's), and every login on the broker's thread pays for one verification."""
        from pwdlib.hashers.argon2 import Argon2Hasher

        hasher = Argon2Hasher(time_cost=1, memory_cost=8192, parallelism=1)
        return "".join(f"{user}:{hasher.hash(password)}\n" for user, password in self.users.items())

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


class MosquittoBroker(_Accounts):
    """A ``mosquitto`` child process with password file and ACL, on 127.0.0.1 and a free port.

    ``users`` maps each user to its password (None: a random one for every user the ACL names).
    """

    kind = "mosquitto"

    def __init__(
        self,
        workdir: str | Path,
        users: Mapping[str, str] | None,
        acl: TopicAcl,
        *,
        port: int | None = None,
        nodelay: bool = True,
    ) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            raise BrokerError("mosquitto is not installed (apt-get install mosquitto; .ci/setup does it)")
        super().__init__(acl, users, port)
        self.exe = exe
        self.workdir = Path(workdir)
        self.nodelay = nodelay
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self._write_config(acl.mosquitto())
        self._process: subprocess.Popen[bytes] | None = None

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
