"""Closed-loop control (issue 6): playbooks, safety interlocks, the Command/Ack contracts and the loop.

Modules: :mod:`~twin.control.messages` (Command, Ack, WorkOrder, MQTT topics),
:mod:`~twin.control.playbook`, :mod:`~twin.control.interlocks`, :mod:`~twin.control.loop`
(:class:`~twin.control.loop.ControlLoop`), :mod:`~twin.control.channel` (MQTT transport of the
loop), :mod:`~twin.control.wiring` (one call to start broker, bridge and loop for a run) and
:mod:`~twin.control.cli` (``twin ledger verify``). Edge code: never imports a plant model.
"""
