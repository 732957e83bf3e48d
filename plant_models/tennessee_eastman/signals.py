"""The Tennessee Eastman tag map, disturbance list and flow sheet (tables, no dynamics).

Tag names follow the process units of the Downs & Vogel flow sheet: feeds A, D, E and
A+C (streams 1-4) -> reactor feed header (stream 6) -> reactor -> condenser -> vapour/liquid
separator -> compressor (recycle, stream 8) and purge (stream 9); separator liquid (stream
10) -> stripper -> product (stream 11). Each signal's description names its benchmark
number, ``XMEAS(n)`` or ``XMV(n)``.

Disturbance ids are explicit (``tep.idv04_reactor_cw_inlet_temp``): the number is the
revised kernel's IDV number (Bathelt, Ricker & Jelali 2015, as bundled by tep-studio, whose
``idv_01``..``idv_28`` map one to one). IDV(1)-(20) are Downs & Vogel's list, where
(16)-(20) were "unknown" and the revised kernel documents them; IDV(21)-(28) exist only in
the revised kernel. The classic Braatz data sets number differently past 20: their fault 21
("stream 4 valve fixed at its steady-state position") is not a kernel disturbance at all,
while kernel IDV(21) is a random A-feed temperature.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from plant_models.base import Signal

STEP_MS = 1_800  # the kernel's integration step and the control interval: 0.0005 h
GAS_ANALYSER_MS = 360_000  # 0.1 h sample interval, equal dead time (XMEAS 23-36)
PRODUCT_ANALYSER_MS = 900_000  # 0.25 h sample interval, equal dead time (XMEAS 37-41)
DEFAULT_SAMPLE_PERIOD_S = 180.0  # continuous signals: the classic data sets' 3 min


@dataclass(frozen=True)
class Measured:
    """One XMEAS: benchmark number, tag, unit, engineering range, description."""

    xmeas: int
    tag: str
    unit: str
    low: float
    high: float
    text: str


@dataclass(frozen=True)
class Manipulated:
    """One XMV: benchmark number, tag, what drives it in AUTO, description."""

    xmv: int
    tag: str
    auto: str
    text: str

    @property
    def readback(self) -> str:
        """The measured tag of the value actually sent to the valve."""
        return f"{self.tag}_out"


@dataclass(frozen=True)
class Disturbance:
    """One kernel IDV: number, explicit id, type, entry asset and the tags it reaches first."""

    idv: int
    name: str
    kind: str  # step | random | drift | stiction
    text: str
    asset: str
    entry: tuple[str, ...]

    @property
    def random(self) -> bool:
        """True when the kernel draws its course from the process-disturbance generator."""
        return self.kind in ("random", "drift")


_F, _R, _S, _C, _ST = "tep.feed_", "tep.reactor.", "tep.separator.", "tep.condenser.", "tep.stripper."
_RF, _PU, _PR = "tep.analyser.reactor_feed.", "tep.analyser.purge.", "tep.analyser.product."

XMEAS: tuple[Measured, ...] = (
    Measured(1, _F + "a.flow", "kscmh", 0.0, 1.0, "A feed flow (stream 1)"),
    Measured(2, _F + "d.flow", "kg/h", 0.0, 8000.0, "D feed flow (stream 2)"),
    Measured(3, _F + "e.flow", "kg/h", 0.0, 10000.0, "E feed flow (stream 3)"),
    Measured(4, _F + "ac.flow", "kscmh", 0.0, 20.0, "A and C feed flow (stream 4, to the stripper)"),
    Measured(5, "tep.compressor.recycle_flow", "kscmh", 0.0, 60.0, "recycle flow to the reactor (stream 8)"),
    Measured(6, _R + "feed_flow", "kscmh", 0.0, 80.0, "reactor feed rate (stream 6)"),
    Measured(7, _R + "pressure", "kPa(g)", 0.0, 3500.0, "reactor pressure (trip above 3000 kPa)"),
    Measured(8, _R + "level", "%", 0.0, 100.0, "reactor level"),
    Measured(9, _R + "temperature", "degC", 0.0, 200.0, "reactor temperature (trip above 175 degC)"),
    Measured(10, "tep.purge.flow", "kscmh", 0.0, 1.5, "purge rate (stream 9)"),
    Measured(11, _S + "temperature", "degC", 0.0, 150.0, "product separator temperature"),
    Measured(12, _S + "level", "%", 0.0, 100.0, "product separator level"),
    Measured(13, _S + "pressure", "kPa(g)", 0.0, 3500.0, "product separator pressure"),
    Measured(14, _S + "underflow", "m3/h", 0.0, 80.0, "product separator underflow (stream 10)"),
    Measured(15, _ST + "level", "%", 0.0, 100.0, "stripper level"),
    Measured(16, _ST + "pressure", "kPa(g)", 0.0, 4000.0, "stripper pressure (shared with the feed header)"),
    Measured(17, _ST + "underflow", "m3/h", 0.0, 60.0, "stripper underflow, the product (stream 11)"),
    Measured(18, _ST + "temperature", "degC", 0.0, 150.0, "stripper temperature"),
    Measured(19, _ST + "steam_flow", "kg/h", 0.0, 500.0, "stripper steam flow"),
    Measured(20, "tep.compressor.work", "kW", 0.0, 500.0, "recycle compressor work"),
    Measured(21, _R + "cw_outlet_temperature", "degC", 0.0, 150.0, "reactor cooling-water outlet temperature"),
    Measured(22, _C + "cw_outlet_temperature", "degC", 0.0, 150.0,
             "condenser (separator) cooling-water outlet temperature"),
    *(Measured(23 + i, f"{_RF}{c}_pct", "mol%", 0.0, 100.0, f"component {c.upper()} in the reactor feed "
               "(stream 6), gas analyser: sampled every 0.1 h, 0.1 h dead time") for i, c in enumerate("abcdef")),
    *(Measured(29 + i, f"{_PU}{c}_pct", "mol%", 0.0, 100.0, f"component {c.upper()} in the purge "
               "(stream 9), gas analyser: sampled every 0.1 h, 0.1 h dead time") for i, c in enumerate("abcdefgh")),
    *(Measured(37 + i, f"{_PR}{c}_pct", "mol%", 0.0, 100.0, f"component {c.upper()} in the product "
               "(stream 11), analyser: sampled every 0.25 h, 0.25 h dead time") for i, c in enumerate("defgh")),
)

XMV: tuple[Manipulated, ...] = (
    Manipulated(1, _F + "d.valve", "D feed flow loop (ratio to the production index)", "D feed valve (stream 2)"),
    Manipulated(2, _F + "e.valve", "E feed flow loop (ratio to the production index)", "E feed valve (stream 3)"),
    Manipulated(3, _F + "a.valve", "A feed flow loop (ratio trimmed by the yA loop)", "A feed valve (stream 1)"),
    Manipulated(4, _F + "ac.valve", "A+C feed flow loop (ratio trimmed by the yAC loop)",
                "A and C feed valve (stream 4)"),
    Manipulated(5, "tep.compressor.recycle_valve", "held at its Mode-1 value; high reactor-level override",
                "compressor recycle valve"),
    Manipulated(6, "tep.purge.valve", "purge flow loop (setpoint from the reactor-pressure loop)",
                "purge valve (stream 9)"),
    Manipulated(7, _S + "underflow_valve", "separator underflow loop (setpoint from the separator level)",
                "separator underflow valve (stream 10)"),
    Manipulated(8, _ST + "underflow_valve", "stripper underflow loop (setpoint from the stripper level)",
                "stripper product valve (stream 11)"),
    Manipulated(9, _ST + "steam_valve", "held at its Mode-1 value", "stripper steam valve"),
    Manipulated(10, _R + "cw_valve", "reactor-temperature loop", "reactor cooling-water valve"),
    Manipulated(11, _C + "cw_valve", "separator-temperature loop (setpoint from the reactor level)",
                "condenser cooling-water valve"),
    Manipulated(12, _R + "agitator_speed", "held at its Mode-1 value", "reactor agitator speed"),
)

_RCW = (_R + "cw_outlet_temperature", _R + "temperature")
_CCW = (_C + "cw_outlet_temperature", _S + "temperature")
_FEED_T = (_R + "temperature", _ST + "pressure")

DISTURBANCES: tuple[Disturbance, ...] = (
    Disturbance(1, "tep.idv01_ac_feed_ratio", "step", "A/C ratio of stream 4 steps, B composition constant",
                "tep.feed_ac", (_RF + "a_pct", _RF + "c_pct")),
    Disturbance(2, "tep.idv02_b_feed_composition", "step", "B composition of stream 4 steps, A/C ratio constant",
                "tep.feed_ac", (_RF + "b_pct",)),
    Disturbance(3, "tep.idv03_d_feed_temp", "step", "D feed (stream 2) temperature steps by +5 K",
                "tep.feed_d", _FEED_T),
    Disturbance(4, "tep.idv04_reactor_cw_inlet_temp", "step", "reactor cooling-water inlet temperature +5 K",
                "tep.reactor", _RCW),
    Disturbance(5, "tep.idv05_condenser_cw_inlet_temp", "step", "condenser cooling-water inlet temperature +5 K",
                "tep.condenser", _CCW),
    Disturbance(6, "tep.idv06_a_feed_loss", "step", "loss of the A feed (stream 1)", "tep.feed_a", (_F + "a.flow",)),
    Disturbance(7, "tep.idv07_c_header_pressure_loss", "step",
                "C header pressure loss: stream 4 availability drops by 20 %", "tep.feed_ac", (_F + "ac.flow",)),
    Disturbance(8, "tep.idv08_feed_ac_composition_random", "random", "random A, B, C composition of stream 4",
                "tep.feed_ac", (_RF + "a_pct", _RF + "b_pct", _RF + "c_pct")),
    Disturbance(9, "tep.idv09_d_feed_temp_random", "random", "random D feed (stream 2) temperature",
                "tep.feed_d", _FEED_T),
    Disturbance(10, "tep.idv10_c_feed_temp_random", "random", "random C feed (stream 4) temperature",
                "tep.feed_ac", (_ST + "temperature",)),
    Disturbance(11, "tep.idv11_reactor_cw_inlet_temp_random", "random",
                "random reactor cooling-water inlet temperature", "tep.reactor", _RCW),
    Disturbance(12, "tep.idv12_condenser_cw_inlet_temp_random", "random",
                "random condenser cooling-water inlet temperature", "tep.condenser", _CCW),
    Disturbance(13, "tep.idv13_reaction_kinetics_drift", "drift", "slow drift of both reaction rate constants",
                "tep.reactor", (_R + "temperature", _R + "pressure")),
    Disturbance(14, "tep.idv14_reactor_cw_valve_stiction", "stiction", "reactor cooling-water valve sticks",
                "tep.reactor", _RCW),
    Disturbance(15, "tep.idv15_condenser_cw_valve_stiction", "stiction", "condenser cooling-water valve sticks",
                "tep.condenser", _CCW),
    Disturbance(16, "tep.idv16_stripper_heat_transfer_random", "random",
                "random stripper heat transfer (Downs & Vogel: unknown)", "tep.stripper",
                (_ST + "steam_flow", _ST + "temperature")),
    Disturbance(17, "tep.idv17_reactor_heat_transfer_random", "random",
                "random reactor heat transfer (Downs & Vogel: unknown)", "tep.reactor",
                (_R + "temperature", _R + "cw_outlet_temperature")),
    Disturbance(18, "tep.idv18_condenser_heat_transfer_random", "random",
                "random condenser heat transfer (Downs & Vogel: unknown)", "tep.condenser",
                (_S + "temperature", _C + "cw_outlet_temperature")),
    Disturbance(19, "tep.idv19_multi_valve_stiction", "stiction",
                "recycle, separator underflow, stripper underflow and steam valves stick (Downs & Vogel: unknown)",
                "tep.separator", (_S + "underflow", _ST + "underflow")),
    Disturbance(20, "tep.idv20_reactor_effluent_flow_random", "random",
                "random reactor-to-separator (stream 7) flow deviation (Downs & Vogel: unknown)", "tep.reactor",
                (_R + "pressure", _S + "pressure")),
    Disturbance(21, "tep.idv21_a_feed_temp_random", "random", "random A feed (stream 1) temperature",
                "tep.feed_a", _FEED_T),
    Disturbance(22, "tep.idv22_e_feed_temp_random", "random", "random E feed (stream 3) temperature",
                "tep.feed_e", _FEED_T),
    Disturbance(23, "tep.idv23_a_feed_pressure_random", "random", "random A feed (stream 1) supply pressure",
                "tep.feed_a", (_F + "a.flow",)),
    Disturbance(24, "tep.idv24_d_feed_pressure_random", "random", "random D feed (stream 2) supply pressure",
                "tep.feed_d", (_F + "d.flow",)),
    Disturbance(25, "tep.idv25_e_feed_pressure_random", "random", "random E feed (stream 3) supply pressure",
                "tep.feed_e", (_F + "e.flow",)),
    Disturbance(26, "tep.idv26_ac_feed_pressure_random", "random", "random A+C feed (stream 4) supply pressure",
                "tep.feed_ac", (_F + "ac.flow",)),
    Disturbance(27, "tep.idv27_reactor_cw_pressure_random", "random",
                "random reactor cooling-water supply pressure (flow)", "tep.reactor", _RCW),
    Disturbance(28, "tep.idv28_condenser_cw_pressure_random", "random",
                "random condenser cooling-water supply pressure (flow)", "tep.condenser", _CCW),
)
DISTURBANCE_BY_NAME: dict[str, Disturbance] = {d.name: d for d in DISTURBANCES}


def period_of(row: Measured, sample_period_ms: int) -> int:
    """The sample period of an XMEAS: its analyser's, or the continuous one."""
    if row.xmeas >= 37:
        return PRODUCT_ANALYSER_MS
    if row.xmeas >= 23:
        return GAS_ANALYSER_MS
    return sample_period_ms


def build_signals(sample_period_ms: int, xmv_initial: list[float]) -> list[Signal]:
    """XMEAS(1..41), then per XMV its hand value (setpoint) and the value sent to the valve."""
    out = [Signal(r.tag, r.unit, "measurement", r.low, r.high, period_of(r, sample_period_ms),
                  description=f"XMEAS({r.xmeas}) {r.text}") for r in XMEAS]
    for m, initial in zip(XMV, xmv_initial, strict=True):
        out.append(Signal(m.tag, "%", "setpoint", 0.0, 100.0, sample_period_ms,
                          description=f"XMV({m.xmv}) {m.text}: hand value; a write puts it in MANUAL "
                          f"(AUTO: {m.auto})", initial=float(initial)))
        out.append(Signal(m.readback, "%", "measurement", 0.0, 100.0, sample_period_ms,
                          description=f"XMV({m.xmv}) {m.text}: value sent to the valve (AUTO or MANUAL)"))
    return out


# -- the flow sheet ------------------------------------------------------------------------
# (cause, effect) between process units: the streams of the Downs & Vogel flow sheet.
FLOWS: tuple[tuple[str, str], ...] = (
    ("tep.feed_a", "tep.reactor_feed"), ("tep.feed_d", "tep.reactor_feed"), ("tep.feed_e", "tep.reactor_feed"),
    ("tep.feed_ac", "tep.stripper"), ("tep.stripper", "tep.reactor_feed"), ("tep.compressor", "tep.reactor_feed"),
    ("tep.reactor_feed", "tep.reactor"), ("tep.reactor", "tep.condenser"), ("tep.condenser", "tep.separator"),
    ("tep.separator", "tep.compressor"), ("tep.separator", "tep.purge"), ("tep.separator", "tep.stripper"),
    ("tep.stripper", "tep.product"), ("tep.reactor.cooling_water", "tep.reactor"),
    ("tep.condenser.cooling_water", "tep.condenser"), ("tep.stripper.steam", "tep.stripper"),
    ("tep.reactor_feed", "tep.analyser.reactor_feed"), ("tep.purge", "tep.analyser.purge"),
    ("tep.product", "tep.analyser.product"),
)
# units whose measurement sits on another node than the tag's asset
MEASURED_AT: dict[str, str] = {
    _R + "feed_flow": "tep.reactor_feed", _ST + "pressure": "tep.reactor_feed", _ST + "underflow": "tep.product",
    _R + "cw_outlet_temperature": "tep.reactor.cooling_water",
    _C + "cw_outlet_temperature": "tep.condenser.cooling_water", _ST + "steam_flow": "tep.stripper.steam",
    "tep.compressor.work": "tep.compressor",
}
# the value sent to each valve acts on this unit
ACTUATES: dict[int, str] = {1: "tep.feed_d", 2: "tep.feed_e", 3: "tep.feed_a", 4: "tep.feed_ac", 5: "tep.compressor",
                            6: "tep.purge", 7: "tep.separator", 8: "tep.product", 9: "tep.stripper.steam",
                            10: "tep.reactor.cooling_water", 11: "tep.condenser.cooling_water", 12: "tep.reactor"}
# Ricker's decentralised Mode-1 loops: measured variable -> the XMV (number) it moves
_FEEDS = (1, 2, 3, 4)
CONTROL: tuple[tuple[str, int], ...] = (
    (_F + "d.flow", 1), (_F + "e.flow", 2), (_F + "a.flow", 3), (_F + "ac.flow", 4), ("tep.purge.flow", 6),
    (_S + "underflow", 7), (_ST + "underflow", 8), (_R + "temperature", 10), (_S + "temperature", 11),
    (_R + "level", 11), (_R + "pressure", 6), (_S + "level", 7), (_ST + "level", 8), (_R + "level", 5),
    (_RF + "a_pct", 3), (_RF + "c_pct", 4), (_RF + "a_pct", 4),
    *((_ST + "underflow", n) for n in _FEEDS), *((_R + "pressure", n) for n in _FEEDS),
)


def tep_causal_graph(signals: list[Signal]) -> nx.DiGraph:
    """The ground-truth graph: flow sheet, measurements, valves, control loops, disturbance entries.

    Every node has ``asset``, ``observed`` and ``role``; every edge a ``kind``: ``flow``
    (stream between units), ``measures`` (unit -> tag), ``actuates`` (hand value -> value
    sent -> unit), ``control`` (measured variable -> the valve its loop moves) or ``entry``
    (disturbance -> the tags it reaches first).
    """
    graph = nx.DiGraph()
    for signal in signals:
        graph.add_node(signal.name, asset=signal.asset, observed=True, role=signal.kind)

    def link(cause: str, effect: str, kind: str) -> None:
        for node in (cause, effect):
            if node not in graph:
                graph.add_node(node, asset=node, observed=False, role="unit")
        graph.add_edge(cause, effect, kind=kind)

    for cause, effect in FLOWS:
        link(cause, effect, "flow")
    for row in XMEAS:
        link(MEASURED_AT.get(row.tag, row.tag.rsplit(".", 1)[0]), row.tag, "measures")
    by_number = {m.xmv: m for m in XMV}
    for m in XMV:
        link(m.tag, m.readback, "actuates")
        link(m.readback, ACTUATES[m.xmv], "actuates")
    for measured, xmv in CONTROL:
        link(measured, by_number[xmv].readback, "control")
    for dist in DISTURBANCES:
        graph.add_node(dist.name, asset=dist.asset, observed=False, role="disturbance", idv=dist.idv)
        for tag in dist.entry:
            graph.add_edge(dist.name, tag, kind="entry")
    return graph
