"""One call to wire the closed loop for a run: broker, PLC bridge, MQTT links, ledger, control loop.

The edge stack (:class:`twin.edge.stack.EdgeStack`) opens it once per run, hands every scan's
frame to the control loop, and closes it when the run ends, in a sketch::

    closed = await open_closed_loop(endpoints, run_dir, policy="auto", run_id="coater_coil_ageing-7",
                                    playbook=playbook, keys=load_keys("keys/line1.key"))
    try:
        for frame in frames:  # one per scan
            await closed.loop.on_frame(frame)
    finally:
        await closed.close()

Security, as the wiring sets it up: the in-process broker (when no broker is given) has the
``edge`` and ``bridge`` accounts with random passwords and the closed loop's ACL
(:func:`~twin.edge.bridge.brokers.closed_loop_acl`); the loop signs every command with the
line's ``keys`` and the bridge verifies them with the same keys (none given: fresh keys for
this run, in memory); the ledger and the bridge's journal are signed with them too. The run id
gets a random suffix (:func:`fresh_run_id`), so no two runs share one, and a bridge never
answers from the journal of another run.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from twin.contracts import Policy, RunFiles
from twin.edge.bridge.bridge import DriverFactory, PlcBridge
from twin.edge.bridge.brokers import BRIDGE_USER, EDGE_USER, EmbeddedBroker, closed_loop_acl
from twin.edge.bridge.mqtt import BrokerAddress, MqttLink
from twin.edge.control.channel import MqttCommandChannel
from twin.edge.control.interlocks import Interlocks
from twin.edge.control.loop import ControlLoop
from twin.edge.control.playbook import Playbook
from twin.edge.keys import LineKeys, generate_keys
from twin.edge.ledger import Ledger
from twin.edge.plugins.choice import PluginChoice
from twin.edge.plugins.registry import make_policy
from virtual_plc.drivers import make_driver
from virtual_plc.endpoints import ResolvedEndpoints


@dataclass
class ClosedLoop:
    """What :func:`open_closed_loop` started; :meth:`close` stops it in reverse order."""

    loop: ControlLoop
    ledger: Ledger
    run_id: str = ""
    bridge: PlcBridge | None = None
    broker: EmbeddedBroker | None = None
    links: list[MqttLink] = field(default_factory=list)

    async def close(self) -> None:
        """Stop the bridge, the links and an embedded broker (safe to call twice)."""
        if self.bridge is not None:
            await self.bridge.stop()
            self.bridge = None
        for link in self.links:
            await link.close()
        self.links = []
        if self.broker is not None:
            self.broker.stop()
            self.broker = None


def fresh_run_id(name: str) -> str:
    """``name`` and 48 random bits: the closed loop's run id, never the same twice."""
    return f"{name}.{secrets.token_hex(6)}"


async def open_closed_loop(
    endpoints: ResolvedEndpoints,
    run_dir: str | Path,
    *,
    playbook: Playbook,
    policy: Policy,
    run_id: str,
    broker: BrokerAddress | None = None,
    edge_account: tuple[str, str] = (EDGE_USER, ""),
    bridge_account: tuple[str, str] | None = (BRIDGE_USER, ""),
    wait_for_acks: bool = True,
    driver_factory: DriverFactory = make_driver,
    policy_plugin: PluginChoice | None = None,
    base: Path | None = None,
    keys: LineKeys | None = None,
) -> ClosedLoop:
    """Wire the loop for one run; ``ledger.jsonl`` (and the bridge's journal) go to ``run_dir``.

    ``run_id`` names the run; the loop and the bridge use :func:`fresh_run_id` of it
    (:attr:`ClosedLoop.run_id`). ``keys`` sign the commands and the ledger (None: fresh keys for
    this run; a bridge in another process needs the line's key file instead).
    ``broker`` None starts an in-process amqtt broker with its own random passwords for the
    ``edge`` and ``bridge`` accounts (``edge_account`` and ``bridge_account`` name the accounts of
    an outside broker). ``bridge_account`` None runs no bridge
    here (another process serves the PLC). ``driver_factory`` is how the bridge reaches the PLC:
    the socket drivers by default, an ``ImageDriver`` on the PLC's process image offline.
    ``policy_plugin`` chooses who proposes commands (default: the playbook, :mod:`twin.edge.plugins`);
    the playbook's interlocks hold whoever it is.
    Policy ``off`` starts no broker and no bridge:
    proposals are only logged.
    """
    run_dir = Path(run_dir)
    tagmap = endpoints.tagmap
    keys = keys if keys is not None else generate_keys(playbook.line)
    run_id = fresh_run_id(run_id)
    ledger = Ledger(run_dir / RunFiles.LEDGER, keys=keys)
    proposer = make_policy(policy_plugin or PluginChoice(use="playbook"), playbook, tagmap, base)
    if policy == "off":
        return ClosedLoop(ControlLoop(playbook, tagmap, None, policy=policy, ledger=ledger, run_id=run_id,
                                      proposer=proposer), ledger, run_id)
    parts = ClosedLoop(loop=ControlLoop(playbook, tagmap, None, policy="off"), ledger=ledger, run_id=run_id)
    try:
        if broker is None:  # our own broker: its accounts, whatever the caller's defaults say
            parts.broker = EmbeddedBroker(closed_loop_acl(tagmap.plant))
            parts.broker.start()
            broker = parts.broker.address
            edge_account = (EDGE_USER, parts.broker.users[EDGE_USER])
            if bridge_account is not None:
                bridge_account = (BRIDGE_USER, parts.broker.users[BRIDGE_USER])
        if bridge_account is not None:
            bridge_link = MqttLink(broker.as_user(*bridge_account), f"{run_id}-bridge", persistent=True)
            parts.links.append(bridge_link)
            await bridge_link.connect()
            parts.bridge = PlcBridge(bridge_link, endpoints, Interlocks(playbook.interlocks, tagmap), keys=keys,
                                     run_id=run_id, line=playbook.line, journal=run_dir / RunFiles.BRIDGE_JOURNAL,
                                     driver_factory=driver_factory, window_s=playbook.window_s)
            await parts.bridge.start()
        edge_link = MqttLink(broker.as_user(*edge_account), f"{run_id}-edge", persistent=True)
        parts.links.append(edge_link)
        await edge_link.connect()
        channel = MqttCommandChannel(edge_link, tagmap.plant, playbook.line)
        await channel.start()
    except BaseException:
        await parts.close()
        raise
    parts.loop = ControlLoop(playbook, tagmap, channel, policy=policy, ledger=ledger, run_id=run_id,
                             wait_for_acks=wait_for_acks, proposer=proposer, keys=keys)
    return parts
