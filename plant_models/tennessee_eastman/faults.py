"""Tennessee Eastman faults: validation, seeds, and one SimPy process per disturbance.

A scenario fault on this plant activates one kernel disturbance (IDV). Until
``FaultKind`` gets a kind of its own, the kind is ``step`` and the target is the
disturbance id (``tep.idv04_reactor_cw_inlet_temp``); ``magnitude`` is the disturbance's
scale, 1.0 being the benchmark's nominal size (the kernel scales IDVs continuously between
0 and 1 and clips above 1, so larger values are refused). ``duration_s`` switches it off
again; ``rate`` and ``params`` do not apply.

Seeds: the kernel has one random generator for measurement noise and one for all random
process disturbances. Both start from seeds derived with :func:`~.rng.rng_for` from the
run seed; a random-type disturbance (random, drift) re-seeds the process-disturbance
generator at its onset from its own stream ``rng_for(seed, "fault:<kind>:<target>:...")``,
so its course depends on the run seed and its own identity, and a run without it is
identical up to the onset. The seed used goes into the fault's truth record.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Generator
from dataclasses import replace
from typing import Any

import numpy as np
import simpy

from plant_models.base import FaultSpec
from plant_models.faults import ResolvedFault, finite, onset_ms_of, wait_until
from plant_models.tennessee_eastman.signals import DISTURBANCE_BY_NAME, Disturbance

KIND = "step"
MAX_MAGNITUDE = 1.0
# byte offsets of the kernel's generator states in tep-studio's model struct (temexd_mod.c:
# ProcessValues, 264 doubles; DistVector, 29 doubles; then RandState {g, measnoise, procdist})
_RAND_STATE = 8 * (264 + 29)
NOISE_STATE = _RAND_STATE + 8
PROCESS_STATE = _RAND_STATE + 16


def kernel_seed(rng: np.random.Generator) -> int:
    """An odd seed in [1, 2**32) for the kernel's multiplicative congruential generator."""
    return 2 * int(rng.integers(0, 2**31)) + 1


def check_generator_layout(sim: Any, seed: float) -> None:
    """Make sure the kernel's generator states sit where :func:`set_generator` writes.

    Raises
    ------
    RuntimeError
        If tep-studio's model struct changed (then seeding would corrupt the model).
    """
    found = struct.unpack_from("<3d", sim.snapshot().model_bytes, _RAND_STATE)
    if found != (seed, seed, seed):
        raise RuntimeError(
            f"tep-studio's kernel layout is not the one this adapter was written for "
            f"(generator states {found}, expected {seed}); pin tep-studio>=0.2,<0.3"
        )


def set_generator(sim: Any, offset: int, seed: int) -> None:
    """Set one kernel generator state (``NOISE_STATE`` or ``PROCESS_STATE``) to ``seed``."""
    snapshot = sim.snapshot()
    raw = bytearray(snapshot.model_bytes)
    struct.pack_into("<d", raw, offset, float(seed))
    sim.restore(replace(snapshot, model_bytes=bytes(raw)))


def fault_targets() -> dict[str, list[str]]:
    """The one kind this plant accepts, with every disturbance id as a target."""
    return {KIND: list(DISTURBANCE_BY_NAME)}


def resolve_tep_fault(spec: FaultSpec, now_ms: int) -> ResolvedFault:
    """Validate ``spec`` for this plant.

    Raises
    ------
    ValueError
        Naming the bad kind, target, onset, magnitude, duration, rate or parameter.
    """
    if spec.kind != KIND:
        raise ValueError(
            f"fault kind {spec.kind!r} does not apply to the Tennessee Eastman plant; valid kinds: ['{KIND}'] "
            "(target: a disturbance id, magnitude: its scale)"
        )
    if spec.target not in DISTURBANCE_BY_NAME:
        raise ValueError(
            f"fault {spec.kind!r} cannot target {spec.target!r}; valid targets: {list(DISTURBANCE_BY_NAME)}"
        )
    onset_ms = onset_ms_of(spec, now_ms, spec.target)
    magnitude = finite(spec.magnitude, f"magnitude of {spec.target}")
    if not 0.0 < magnitude <= MAX_MAGNITUDE:
        raise ValueError(
            f"magnitude {magnitude} of {spec.target} is outside 0 < magnitude <= {MAX_MAGNITUDE} "
            "(the disturbance's scale; 1.0 is the benchmark's nominal size)"
        )
    if spec.rate is not None:
        raise ValueError(f"rate does not apply to {spec.target}: a disturbance is switched on at its onset")
    if spec.params:
        raise ValueError(f"unknown parameter {sorted(spec.params)[0]!r} for {spec.target}; valid parameters: []")
    duration = None
    if spec.duration_s is not None:
        duration = finite(spec.duration_s, f"duration_s of {spec.target}")
        if duration <= 0:
            raise ValueError(f"duration_s of {spec.target} must be > 0, got {spec.duration_s}")
    return ResolvedFault(spec, onset_ms, None, duration)


def disturbance_process(
    env: simpy.Environment,
    fault: ResolvedFault,
    idv: np.ndarray,
    reseed: Callable[[], None] | None,
) -> Generator[simpy.Event, Any, None]:
    """Switch the disturbance on at its onset (re-seeding first if random) and off at its end.

    ``idv`` is the plant's activation vector; contributions add (the kernel clips at 1),
    so two faults on one disturbance stack and each takes back only its own share.
    """
    dist: Disturbance = DISTURBANCE_BY_NAME[fault.spec.target]
    yield from wait_until(env, fault.onset_ms)
    if reseed is not None:
        reseed()
    idv[dist.idv - 1] += fault.spec.magnitude
    if math.isfinite(fault.end_ms):
        yield from wait_until(env, fault.end_ms)
        idv[dist.idv - 1] -= fault.spec.magnitude
