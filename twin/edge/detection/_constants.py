"""Control-chart constants d2, d3 and c4, as R's qcc tabulates and computes them.

``d2(n)`` is the expected range of ``n`` standard normal observations and ``d3(n)`` its
standard deviation. qcc (``qcc.options("exp.R.unscaled")`` and ``"se.R.unscaled"``) tables
d2 to 3 decimals for n = 2..25 and d3 to 7 decimals for n = 2..50; ``c4(n)`` is exact.
Using the tabled values, not the integrals, is what makes our numbers equal qcc's.
"""

from __future__ import annotations

import math

import numpy as np

# index n - 2: n = 2..25 (Montgomery, Appendix VI; qcc exp.R.unscaled)
_D2 = (1.128, 1.693, 2.059, 2.326, 2.534, 2.704, 2.847, 2.970, 3.078, 3.173, 3.258, 3.336, 3.407,
       3.472, 3.532, 3.588, 3.640, 3.689, 3.735, 3.778, 3.819, 3.858, 3.895, 3.931)
# index n - 2: n = 2..50 (qcc se.R.unscaled)
_D3 = (0.8525033, 0.8883697, 0.8798108, 0.8640855, 0.8480442, 0.8332108, 0.8198378, 0.8078413,
       0.7970584, 0.7873230, 0.7784873, 0.7704257, 0.7630330, 0.7562217, 0.7499188, 0.7440627,
       0.7386021, 0.7334929, 0.7286980, 0.7241851, 0.7199267, 0.7158987, 0.7120802, 0.7084528,
       0.7050004, 0.7017086, 0.6985648, 0.6955576, 0.6926770, 0.6899137, 0.6872596, 0.6847074,
       0.6822502, 0.6798821, 0.6775973, 0.6753910, 0.6732584, 0.6711952, 0.6691976, 0.6672619,
       0.6653848, 0.6635632, 0.6617943, 0.6600754, 0.6584041, 0.6567780, 0.6551950, 0.6536532,
       0.6521506)

D2_MAX = 1 + len(_D2)
D3_MAX = 1 + len(_D3)


def _lookup(table: tuple[float, ...], name: str, n: np.ndarray | int) -> np.ndarray:
    sizes = np.asarray(n)
    if sizes.size and (np.any(sizes != np.round(sizes)) or sizes.min() < 2 or sizes.max() > 1 + len(table)):
        raise ValueError(f"{name} is tabled for subgroup sizes 2..{1 + len(table)}, got {sizes.tolist()}")
    return np.asarray(table)[sizes.astype(int) - 2]


def d2(n: np.ndarray | int) -> np.ndarray:
    """Expected range of ``n`` standard normal observations, as tabled by qcc (3 decimals).

    Parameters
    ----------
    n
        Subgroup size(s), 2..25.

    Returns
    -------
    numpy.ndarray
        d2 for each size.

    Examples
    --------
    >>> from twin.edge.detection.spc import d2
    >>> d2([2, 5]).tolist()
    [1.128, 2.326]
    """
    return _lookup(_D2, "d2", n)


def d3(n: np.ndarray | int) -> np.ndarray:
    """Standard deviation of the range of ``n`` standard normal observations (qcc's table).

    Parameters
    ----------
    n
        Subgroup size(s), 2..50.

    Returns
    -------
    numpy.ndarray
        d3 for each size.

    Examples
    --------
    >>> from twin.edge.detection.spc import d3
    >>> d3(5).item()
    0.8640855
    """
    return _lookup(_D3, "d3", n)


def c4(n: np.ndarray | int) -> np.ndarray:
    r"""Bias factor of the sample standard deviation, :math:`E[S] = c_4(n)\,\sigma`.

    .. math::

        c_4(n) = \sqrt{\frac{2}{n-1}}\,\frac{\Gamma(n/2)}{\Gamma((n-1)/2)}

    Parameters
    ----------
    n
        Sample size(s), at least 2.

    Returns
    -------
    numpy.ndarray
        c4 for each size.

    Examples
    --------
    >>> from twin.edge.detection.spc import c4
    >>> round(float(c4(5)), 7)
    0.9399856
    """
    sizes = np.asarray(n, dtype=float)
    if sizes.size and sizes.min() < 2:
        raise ValueError(f"c4 needs sample sizes of at least 2, got {sizes.tolist()}")
    lg = np.vectorize(math.lgamma, otypes=[float])
    return np.sqrt(2.0 / (sizes - 1.0)) * np.exp(lg(sizes / 2.0) - lg((sizes - 1.0) / 2.0))
