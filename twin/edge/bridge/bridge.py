"""The PLC bridge: takes commands off MQTT, checks them again, writes them to the PLC, reads back, acks.

For each command (topic ``qt/{plant}/{line}/cmd/{tag}``, see :mod:`twin.edge.control.messages`):

1. validate the JSON payload (an invalid one with a readable id is ``refused``);
2. check the signature (HMAC-SHA256 under the line's command secret, :mod:`twin.edge.keys`):
   none → ``refused`` (``unsigned``), a wrong one → ``refused`` (``bad_signature``); a bridge
   without keys refuses everything;
3. answer a command seen before (same id, same signature) with the stored ack (re-sends are
   idempotent; the journal survives a bridge restart); an id or a nonce already taken by another
   command → ``refused`` (``replayed``);
4. read the PLC clock and the target's current value through the same driver the edge uses
   (one reconnect-and-retry; still unreachable → ``failed``);
5. ``expired`` when the PLC clock is past ``expires_t_ms``; ``refused`` (``window``) when
   ``issued_t_ms`` is more than ``window_s`` before or after the PLC clock;
6. a rollback must name (``rollback_of``) a command this bridge applied in this run, of the
   same tag and not yet rolled back, and write that command's previous value, else
   ``refused`` (``rollback_of``);
7. the interlocks (:mod:`twin.edge.control.interlocks`) with the bridge's own state → ``refused``
   (a checked rollback uses no move budget; the cool-down holds for it like for any command);
8. write, read back (the driver's write returns the read-back), compare → ``applied``, or
   ``refused`` (the PLC said no) or ``failed`` (connection lost, read-back differs);
9. journal the command and its ack (:mod:`twin.edge.bridge.journal`), publish the ack on
   ``qt/{plant}/{line}/ack/{tag}``.

Refusals at steps 1–3 are journalled as ``refusal`` entries and never count as answers, so a
forged message cannot take the id of a real command. The journal names the run it belongs to;
a bridge started with another run id refuses to start on it. Commands are handled one at a time,
in arrival order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from twin.contracts import Ack, AckStatus, Command, CommandKind
from twin.edge.bridge.journal import BridgeJournal
from twin.edge.bridge.mqtt import MqttLink
from twin.edge.control.interlocks import Interlocks
from twin.edge.control.messages import ack_topic, command_filter, signature_valid
from twin.edge.frames import Quality
from twin.edge.keys import LineKeys
from virtual_plc.codec import ElementLayout
from virtual_plc.drivers import PlcDriver, PlcUnavailable, PlcWriteRefused, make_driver
from virtual_plc.endpoints import Endpoint, ResolvedEndpoints, endpoint_clock
from virtual_plc.schedule import DueSet
from virtual_plc.tagmap import Tag, TagMap

log = logging.getLogger(__name__)
DriverFactory = Callable[[Endpoint, TagMap], PlcDriver]
DEFAULT_WINDOW_S = 60.0


def read_back_matches(tag: Tag, wanted: float, got: float) -> bool:
    """True when ``got`` is ``wanted`` as the tag's register type stores it (float32 or scaled integer)."""
    if not math.isfinite(got):
        return False
    if tag.dtype.startswith("float"):
        return math.isclose(got, wanted, rel_tol=1e-6 if tag.dtype == "float32" else 1e-12, abs_tol=1e-9)
    return abs(got - wanted) <= 0.5 / tag.scale + 1e-9


class PlcBridge:
    """Applies MQTT commands for one plant (and line) to its PLCs; every command gets exactly one ack.

    ``keys`` verify the commands' signatures (None: every command is refused). ``run_id`` names the
    run the ``journal`` belongs to (a journal of another run: :class:`~twin.edge.bridge.journal.JournalError`).
    ``window_s``: how far, in plant seconds, a command's ``issued_t_ms`` may lie from the PLC clock.
    """

    def __init__(
        self,
        link: MqttLink,
        endpoints: ResolvedEndpoints,
        interlocks: Interlocks,
        *,
        keys: LineKeys | None,
        run_id: str,
        line: str = "+",
        name: str = "bridge",
        journal: str | Path | None = None,
        driver_factory: DriverFactory = make_driver,
        window_s: float = DEFAULT_WINDOW_S,
    ) -> None:
        if not window_s > 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        self.link = link
        self.tagmap = endpoints.tagmap
        self.plant = endpoints.tagmap.plant
        self.line = line
        self.name = name
        self.keys = keys
        self.window_ms = int(window_s * 1000)
        self.interlocks = interlocks
        self.journal = BridgeJournal(journal, run_id=run_id, plant=self.plant, line=line, bridge=name, keys=keys)
        for command, ack in self.journal.applied():  # a restarted bridge keeps its cool-downs and budget
            self.interlocks.commit(command.tag, command.value, ack.plc_t_ms or 0,
                                   rollback=command.kind == CommandKind.ROLLBACK)
        self.drivers: list[PlcDriver] = []
        self._driver_of: dict[str, PlcDriver] = {}
        for endpoint, tags in endpoints.assignments:
            driver = driver_factory(endpoint, endpoints.tagmap)
            self.drivers.append(driver)
            self._driver_of.update({t.name: driver for t in tags})
        self._task: asyncio.Task[None] | None = None
        self._reads: dict[str, DueSet] = {}

    async def start(self) -> None:
        """Subscribe to the plant's commands and start answering them."""
        await self.link.subscribed(command_filter(self.plant, self.line))
        self._task = asyncio.create_task(self._serve(), name=f"bridge:{self.name}")

    async def stop(self) -> None:
        """Stop answering and close the PLC connections (the MQTT link is the caller's)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for driver in self.drivers:
            await driver.close()

    async def _serve(self) -> None:
        while True:
            topic, payload = await self.link.messages.get()
            try:
                ack = await self.handle(payload)
            except Exception:  # noqa: BLE001 - one bad command must not stop the bridge
                log.exception("bridge %s: unexpected error on %s", self.name, topic)
                continue
            if ack is not None:
                line = topic.split("/")[2]
                self.link.publish(ack_topic(self.plant, line, ack.tag), ack.to_json())

    async def handle(self, payload: bytes | str) -> Ack | None:
        """The ack for one command payload (None when it is not even readable as a command)."""
        try:
            command = Command.model_validate_json(payload)
        except ValidationError as err:
            return self._invalid(payload, err)
        problem = self._unverified(command)
        if problem is None:
            known = self.journal.stored_answer(command)
            if known is not None:
                return known
            problem = self.journal.replay(command)
        if problem is not None:
            ack = self._ack_for(command, "refused", reason=problem)
            self.journal.refuse(ack, payload)
            return ack
        self.journal.take(command, t_ms=None)
        ack = await self._apply(command)
        self.journal.answer(ack)
        return ack

    def _unverified(self, command: Command) -> str | None:
        """Why the command's signature does not vouch for it, or None."""
        if self.keys is None:
            return "unsigned: this bridge holds no command key (give it the line's key file)"
        if not command.signature or not command.nonce:
            return "unsigned: the command carries no signature and nonce"
        if not signature_valid(command, self.keys):
            return f"bad_signature: the signature does not verify under line {self.keys.line!r}'s command key"
        return None

    def _invalid(self, payload: bytes | str, err: ValidationError) -> Ack | None:
        try:
            raw = json.loads(payload)
            command_id, tag = str(raw["id"]), str(raw.get("tag", ""))
        except (ValueError, KeyError, TypeError):
            log.warning("bridge %s: dropped a payload that is not a command: %.200r", self.name, payload)
            return None
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        ack = self._ack(command_id, tag, "refused", None, reason=f"invalid command: {problems}")
        self.journal.refuse(ack, payload)
        return ack

    async def _apply(self, command: Command) -> Ack:
        driver = self._driver_of.get(command.tag)
        if driver is None:
            return self._ack_for(command, "refused", reason=f"unknown_tag: no PLC serves {command.tag}")
        tag = self.tagmap[command.tag]
        try:
            clock, current = await self._read_now(driver, tag)
        except PlcUnavailable as err:
            return self._ack_for(command, "failed", reason=f"PLC unavailable before writing: {err}")
        if clock > command.expires_t_ms:
            return self._ack_for(command, "expired", plc_t_ms=clock, read_back=current,
                                 reason=f"PLC clock {clock} ms is past expiry {command.expires_t_ms} ms")
        problem = self._out_of_window(command, clock) or self._bad_rollback(command, tag)
        if problem is not None:
            return self._ack_for(command, "refused", plc_t_ms=clock, read_back=current, reason=problem)
        quality = Quality.GOOD if math.isfinite(current) else Quality.BAD
        refusal = self.interlocks.check(command.tag, command.value, current=current, quality=quality, t_ms=clock,
                                        bounds=(command.low, command.high),
                                        rollback=command.kind == CommandKind.ROLLBACK)
        if refusal is not None:
            return self._ack_for(command, "refused", plc_t_ms=clock, read_back=current, reason=str(refusal))
        return await self._write(driver, tag, command, clock)

    def _out_of_window(self, command: Command, clock: int) -> str | None:
        """Why ``issued_t_ms`` is too far from the PLC clock (``window_s`` either way), or None."""
        if abs(command.issued_t_ms - clock) <= self.window_ms:
            return None
        when = "ahead of" if command.issued_t_ms > clock else "behind"
        return (f"window: issued at {command.issued_t_ms} ms, {abs(command.issued_t_ms - clock) / 1000:g} s {when} "
                f"the PLC clock {clock} ms (window {self.window_ms / 1000:g} s)")

    def _bad_rollback(self, command: Command, tag: Tag) -> str | None:
        """Why a rollback undoes nothing this bridge applied, or writes another value than the one it undoes."""
        if command.kind != CommandKind.ROLLBACK:
            return None
        target, problem = self.journal.rollback_target(command)
        if target is None:
            return problem
        assert target.previous is not None
        if not read_back_matches(tag, target.previous, command.value):
            return (f"rollback_of: {target.id} was applied from {target.previous:g}; a rollback of it must write "
                    f"that, not {command.value:g}")
        return None

    async def _write(self, driver: PlcDriver, tag: Tag, command: Command, clock: int) -> Ack:
        try:
            read_back = await driver.write(tag, command.value)
        except PlcWriteRefused as err:
            return self._ack_for(command, "refused", plc_t_ms=clock, reason=f"PLC refused ({err.code}): {err}")
        except PlcUnavailable as err:
            await driver.close()
            return self._ack_for(command, "failed", plc_t_ms=clock, reason=f"PLC connection lost while writing: {err}")
        self.interlocks.commit(command.tag, command.value, clock, rollback=command.kind == CommandKind.ROLLBACK)
        if not read_back_matches(tag, command.value, read_back):
            return self._ack_for(command, "failed", plc_t_ms=clock, read_back=read_back,
                                 reason=f"read back {read_back} after writing {command.value}")
        return self._ack_for(command, "applied", plc_t_ms=clock, read_back=read_back)

    async def _read_now(self, driver: PlcDriver, tag: Tag) -> tuple[int, float]:
        """PLC clock (ms) and the tag's value; reconnects and retries once. A PLC without a clock
        answers with the UTC wall clock (the edge's time for such a line, see :mod:`twin.edge.realtime`)."""
        clock = endpoint_clock(driver.endpoint, self.tagmap)
        due = self._reads.get(tag.name)
        if due is None:
            tags = [clock, tag] if clock is not None else [tag]
            due = self._reads[tag.name] = DueSet(tags, ElementLayout(tags))
        try:
            values = (await driver.read(due)).values
        except PlcUnavailable:
            values = (await driver.read(due)).values  # read() reconnects first
        if clock is None:
            return time.time_ns() // 1_000_000, float(values[0])
        return int(values[0]), float(values[1])

    def _ack_for(self, command: Command, status: AckStatus, *, plc_t_ms: int | None = None,
                 read_back: float | None = None, reason: str = "") -> Ack:
        return self._ack(command.id, command.tag, status, command.value, plc_t_ms=plc_t_ms,
                         read_back=read_back, reason=reason, signature=command.signature)

    def _ack(self, command_id: str, tag: str, status: AckStatus, value: float | None, *, plc_t_ms: int | None = None,
             read_back: float | None = None, reason: str = "", signature: str = "") -> Ack:
        if read_back is not None and not math.isfinite(read_back):
            read_back = None
        return Ack(command_id=command_id, tag=tag, status=status, value=value, read_back=read_back,
                   reason=reason, plc_t_ms=plc_t_ms, bridge=self.name, command_signature=signature)
