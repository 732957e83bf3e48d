r"""Process capability indices with confidence intervals, as R's qcc ``processCapability``.

With :math:`L` the chart's ``nsigmas`` (3 by default), centre :math:`\mu`, sigma :math:`\sigma`:

.. math::

    C_p = \frac{USL-LSL}{2L\sigma},\quad C_{p,l} = \frac{\mu-LSL}{L\sigma},\quad
    C_{p,u} = \frac{USL-\mu}{L\sigma},\quad C_{p,k} = \min(C_{p,l}, C_{p,u}),\quad
    C_{pm} = \frac{C_p}{\sqrt{1+((\mu-T)/\sigma)^2}}

Intervals: :math:`C_p` by :math:`\chi^2_{n-1}` (Chou et al. 1990); :math:`C_{p,l}`,
:math:`C_{p,u}` by Bissell's (1990) normal approximation with the one-sided
:math:`z_{1-\alpha}`, :math:`C_{p,k}` the same with :math:`z_{1-\alpha/2}`; :math:`C_{pm}`
by :math:`\chi^2` with :math:`n(1+d^2)/(1+2d^2)` degrees of freedom, :math:`d=(\mu-T)/\sigma`
(Boyles 1991). :math:`n` is the number of Phase I observations.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from twin.edge.detection import _inputs as check
from twin.edge.detection._charts import ControlChart

Interval = tuple[float, float, float]


class Capability(dict[str, Interval]):
    """Capability indices: ``cap["Cp"] -> (value, ci_low, ci_high)`` for Cp, Cp_l, Cp_u, Cp_k, Cpm.

    Attributes
    ----------
    n : int
        Number of Phase I observations.
    center, std_dev, overall_std_dev, target, lsl, usl, confidence_level : float
        Inputs of the indices; ``overall_std_dev`` is the sample SD of all Phase I
        observations (pass it as ``std_dev`` to get Pp, Ppk, Ppm).
    """

    n: int
    center: float
    std_dev: float
    overall_std_dev: float
    target: float
    lsl: float
    usl: float
    confidence_level: float


def _chisq(idx: float, df: float, alpha: float) -> Interval:
    if math.isnan(idx):
        return (math.nan, math.nan, math.nan)
    lo, hi = stats.chi2.ppf([alpha / 2, 1 - alpha / 2], df)
    return (float(idx), float(idx * math.sqrt(lo / df)), float(idx * math.sqrt(hi / df)))


def _wald(idx: float, z: float, n: int) -> Interval:
    if math.isnan(idx):
        return (math.nan, math.nan, math.nan)
    half = z * math.sqrt(1.0 / (9.0 * n * idx**2) + 1.0 / (2.0 * (n - 1)))
    return (float(idx), float(idx * (1 - half)), float(idx * (1 + half)))


def capability(chart: ControlChart, *, lsl: float | None, usl: float | None, target: float | None = None,
               std_dev: float | None = None, confidence_level: float = 0.95) -> Capability:
    """Capability indices of the process behind an x-bar or individuals chart.

    Parameters
    ----------
    chart
        A :class:`ControlChart` of kind ``"xbar"`` or ``"xbar.one"``.
    lsl, usl
        Specification limits; one of them may be ``None`` (one-sided).
    target
        Target value; defaults to the midpoint of the specification limits.
    std_dev
        Sigma to use instead of the chart's within sigma (the overall SD gives Pp, Ppk).
    confidence_level
        Two-sided confidence level of the intervals.

    Returns
    -------
    Capability
        ``cap[name] -> (value, ci_low, ci_high)``; NaN where a one-sided limit makes an
        index undefined.

    Examples
    --------
    >>> import numpy as np
    >>> from twin.edge.detection import spc
    >>> rng = np.random.default_rng(11)
    >>> chart = spc.control_chart("xbar", rng.normal(74.0, 0.01, size=(25, 5)))
    >>> cap = spc.capability(chart, lsl=73.95, usl=74.05)
    >>> [round(v, 3) for v in cap["Cp"]]
    [1.838, 1.61, 2.067]
    """
    if chart.kind not in ("xbar", "xbar.one"):
        raise ValueError(f"chart must be an xbar or xbar.one chart, got a {chart.kind} chart")
    lo = math.nan if lsl is None else check.number(lsl, "lsl")
    hi = math.nan if usl is None else check.number(usl, "usl")
    if math.isnan(lo) and math.isnan(hi):
        raise ValueError("lsl and usl cannot both be None")
    if not (math.isnan(lo) or math.isnan(hi)) and lo >= hi:
        raise ValueError(f"lsl must be below usl, got lsl={lsl!r}, usl={usl!r}")
    confidence_level = check.in_open_unit(confidence_level, "confidence_level")
    sd = chart.std_dev if std_dev is None else check.positive(std_dev, "std_dev")
    if target is None:
        target = float(np.nanmean([lo, hi]))
    else:
        target = check.number(target, "target")
    x, mu, L = chart.observations, chart.center, chart.nsigmas
    n = x.size
    cp = (hi - lo) / (2 * L * sd)
    cpu = (hi - mu) / (L * sd)
    cpl = (mu - lo) / (L * sd)
    cpk = float(np.nanmin([cpu, cpl]))
    d = (mu - target) / sd
    cpm = cp / math.sqrt(1 + d**2)
    alpha = 1 - confidence_level
    out = Capability(
        Cp=_chisq(cp, n - 1, alpha),
        Cp_l=_wald(cpl, stats.norm.ppf(confidence_level), n),
        Cp_u=_wald(cpu, stats.norm.ppf(confidence_level), n),
        Cp_k=_wald(cpk, stats.norm.ppf(1 - alpha / 2), n),
        Cpm=_chisq(cpm, n * (1 + d**2) / (1 + 2 * d**2), alpha),
    )
    out.n, out.center, out.std_dev, out.target = n, mu, sd, target
    out.overall_std_dev = float(np.std(x, ddof=1))
    out.lsl, out.usl, out.confidence_level = lo, hi, confidence_level
    return out
