"""Closed-loop control (issue 6): playbooks, safety interlocks, the Command/Ack contracts and the loop.

Modules: :mod:`~twin.edge.control.messages` (MQTT topics, command ids, nonces and signatures),
:mod:`~twin.edge.control.playbook`, :mod:`~twin.edge.control.interlocks`, :mod:`~twin.edge.control.loop`
(:class:`~twin.edge.control.loop.ControlLoop`), :mod:`~twin.edge.control.channel` (MQTT transport of the
loop), :mod:`~twin.edge.control.wiring` (one call to start broker, bridge and loop for a run) and
:mod:`~twin.cli.ledger` (``twin ledger verify``). Edge code: never imports a plant model.
"""
