"""How the control loop reaches the bridge: a :class:`CommandChannel`; over MQTT, :class:`MqttCommandChannel`.

The loop only needs to send commands and work orders and to collect acks, so anything
with these four methods will do (a plant's own message bus, say). Acks that do not
validate are counted in ``invalid_acks`` and logged, never guessed at.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from pydantic import ValidationError

from twin.contracts import Ack, Command, WorkOrder
from twin.edge.bridge.mqtt import MqttLink
from twin.edge.control.messages import ack_filter, command_topic, workorder_topic

log = logging.getLogger(__name__)


class CommandChannel(Protocol):
    """Carries commands to a bridge and acks back."""

    def send_command(self, command: Command) -> None:
        """Send (or queue) one command."""

    def send_work_order(self, order: WorkOrder) -> None:
        """Send one maintenance work order."""

    def take_acks(self) -> list[Ack]:
        """Every ack that arrived since the last call, in arrival order."""

    async def wait_ack(self, timeout_s: float) -> bool:
        """Wait until an ack is available (True) or ``timeout_s`` passes (False)."""


class MqttCommandChannel:
    """Commands out on ``qt/{plant}/{line}/cmd/{tag}``, acks in from ``qt/{plant}/{line}/ack/#``."""

    def __init__(self, link: MqttLink, plant: str, line: str) -> None:
        self.link = link
        self.plant = plant
        self.line = line
        self.invalid_acks = 0

    async def start(self) -> None:
        """Subscribe to the line's acks (waits for the broker's SUBACK)."""
        await self.link.subscribed(ack_filter(self.plant, self.line))

    def send_command(self, command: Command) -> None:
        """Publish a command (QoS 1)."""
        self.link.publish(command_topic(self.plant, self.line, command.tag), command.to_json())

    def send_work_order(self, order: WorkOrder) -> None:
        """Publish a work order (QoS 1)."""
        self.link.publish(workorder_topic(self.plant, self.line), order.to_json())

    def take_acks(self) -> list[Ack]:
        """Acks received so far."""
        acks = []
        while not self.link.messages.empty():
            topic, payload = self.link.messages.get_nowait()
            try:
                acks.append(Ack.model_validate_json(payload))
            except ValidationError as err:
                self.invalid_acks += 1
                log.warning("invalid ack on %s: %s", topic, err)
        return acks

    async def wait_ack(self, timeout_s: float) -> bool:
        """Wait for the next message on the ack subscription."""
        if not self.link.messages.empty():
            return True
        try:
            item = await asyncio.wait_for(self.link.messages.get(), timeout_s)
        except TimeoutError:
            return False
        # put it back in front: take_acks() parses in order
        rest = [item]
        while not self.link.messages.empty():
            rest.append(self.link.messages.get_nowait())
        for entry in rest:
            self.link.messages.put_nowait(entry)
        return True
