"""Metric values and properties: tags to Sparkplug datatypes, values in and out of the protobuf value fields.

A tag's Sparkplug datatype is that of its *engineering* value: an integer register with a scale
other than 1 holds fractions, so it travels as ``Double``; ``float32`` as ``Float`` (exact: the PLC
stored a float32), ``string`` as ``String`` and ``datetime`` as ``DateTime`` (ms since the epoch, UTC).
Signed integers of up to 32 bits ride in ``int_value`` as 32-bit two's complement, 64-bit ones in
``long_value`` as 64-bit two's complement (as Eclipse Tahu does); decoding sign-extends from the
datatype's own width, so a peer that wraps at 8 or 16 bits reads the same.

Quality travels as the metric property ``Quality`` (Int32: 192 good, 500 stale, 0 bad), the
convention of Sparkplug hosts such as Ignition; a metric without it is good. Engineering unit and
range travel in the birth as properties ``engUnit`` (String), ``engLow`` and ``engHigh`` (Double),
and access as ``readOnly`` (Boolean).

>>> from twin.edge.sparkplug.schema import Metric
>>> m = Metric(); set_value(m, DataType.INT16, -2); m.int_value, get_value(m, DataType.INT16)
(4294967294, -2.0)
>>> datatype_of(Tag(name="a.b", dtype="int16", scale=10, period_ms=10)).name
'DOUBLE'
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from twin.edge.frames import Quality
from twin.edge.sparkplug.schema import DataType
from virtual_plc.tagmap import Tag

QUALITY_PROPERTY = "Quality"
QUALITY_GOOD, QUALITY_STALE, QUALITY_BAD = 192, 500, 0
QUALITY_CODE = {Quality.GOOD: QUALITY_GOOD, Quality.STALE: QUALITY_STALE, Quality.BAD: QUALITY_BAD,
                Quality.MISSING: QUALITY_BAD}
UNIT, LOW, HIGH, READ_ONLY = "engUnit", "engLow", "engHigh", "readOnly"

_INTS = {"int8": DataType.INT8, "int16": DataType.INT16, "int32": DataType.INT32, "int64": DataType.INT64,
         "uint8": DataType.UINT8, "uint16": DataType.UINT16, "uint32": DataType.UINT32, "uint64": DataType.UINT64}
_BITS = {DataType.INT8: 8, DataType.INT16: 16, DataType.INT32: 32, DataType.INT64: 64}
_UNSIGNED = {DataType.UINT8, DataType.UINT16, DataType.UINT32, DataType.UINT64}
_LONG = {DataType.INT64, DataType.UINT32, DataType.UINT64, DataType.DATETIME}  # long_value (uint64)
_INT = {DataType.INT8, DataType.INT16, DataType.INT32, DataType.UINT8, DataType.UINT16}  # int_value (uint32)
_TEXT = {DataType.STRING, DataType.TEXT, DataType.UUID}
NUMERIC = frozenset(_INT | _LONG | {DataType.FLOAT, DataType.DOUBLE, DataType.BOOLEAN}) - {DataType.DATETIME}


def datatype_of(tag: Tag) -> DataType:
    """The Sparkplug datatype of ``tag``'s engineering value (see the module docstring)."""
    if tag.dtype == "bool":
        return DataType.BOOLEAN
    if tag.dtype == "string":
        return DataType.STRING
    if tag.dtype == "datetime":
        return DataType.DATETIME
    if tag.scale != 1:
        return DataType.DOUBLE
    return _INTS.get(tag.dtype) or (DataType.FLOAT if tag.dtype == "float32" else DataType.DOUBLE)


def set_value(target: Any, datatype: DataType, value: Any) -> None:
    """Put ``value`` in the value field of ``target`` (a Metric or PropertyValue) that ``datatype`` uses.

    ``value`` None or NaN sets ``is_null``. Numbers come as floats (a frame's values); ``DateTime`` takes
    ms since the epoch or ISO 8601 text.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        target.is_null = True
        return
    if datatype == DataType.DATETIME:
        ms = int(datetime.fromisoformat(value).timestamp() * 1000) if isinstance(value, str) else int(value)
        target.long_value = ms % 2**64
    elif datatype in _INT or datatype in _LONG:
        number = int(round(float(value)))
        if datatype in _UNSIGNED:
            number = max(number, 0)
        if datatype in _LONG:
            target.long_value = number % 2**64
        else:
            target.int_value = number % 2**32
    elif datatype == DataType.FLOAT:
        target.float_value = float(value)
    elif datatype == DataType.DOUBLE:
        target.double_value = float(value)
    elif datatype == DataType.BOOLEAN:
        target.boolean_value = bool(value)
    elif datatype in _TEXT:
        target.string_value = str(value)
    else:
        raise ValueError(f"datatype {datatype.name} is not published by this edge node")


def get_value(source: Any, datatype: DataType) -> float | str | None:
    """The value of ``source`` (a Metric, PropertyValue or DataSetValue) as a float (numbers, booleans), text (strings,
    DateTime as ISO 8601 UTC) or None (null, or a datatype the historian cannot hold: bytes, data sets,
    templates)."""
    if getattr(source, "is_null", False):  # a DataSetValue has no is_null
        return None
    field = source.WhichOneof("value")
    if field is None:
        return None
    raw = getattr(source, field)
    if datatype == DataType.DATETIME:
        return datetime.fromtimestamp(int(raw) / 1000, tz=UTC).isoformat(timespec="milliseconds")
    if datatype in _BITS:
        bits = _BITS[datatype]
        low = int(raw) % 2**bits
        return float(low - 2**bits if low >= 2 ** (bits - 1) else low)
    if datatype in _TEXT:
        return str(raw)
    if isinstance(raw, bool | int | float):
        return float(raw)
    return None


def set_properties(metric: Any, properties: dict[str, tuple[DataType, Any]]) -> None:
    """Attach ``properties`` (key -> (datatype, value)) to ``metric``'s property set."""
    for key, (datatype, value) in properties.items():
        metric.properties.keys.append(key)
        prop = metric.properties.values.add(type=int(datatype))
        set_value(prop, datatype, value)


def properties_of(metric: Any) -> dict[str, float | str | None]:
    """``metric``'s properties, key -> value (:func:`get_value`'s forms)."""
    props = metric.properties
    return {key: get_value(value, DataType(value.type) if value.type in DataType._value2member_map_
                           else DataType.UNKNOWN) for key, value in zip(props.keys, props.values)}


def quality_name(code: float | str | None, is_null: bool) -> str:
    """The historian's quality of a Sparkplug ``Quality`` code (None: no property): good, stale or bad.

    >>> quality_name(None, False), quality_name(500, False), quality_name(192, True)
    ('good', 'stale', 'bad')
    """
    if is_null:
        return "bad"
    if code is None or code == QUALITY_GOOD:
        return "good"
    return "stale" if code == QUALITY_STALE else "bad"


def tag_properties(tag: Tag) -> dict[str, tuple[DataType, Any]]:
    """The birth properties of ``tag``: unit, range and access (those it has)."""
    props: dict[str, tuple[DataType, Any]] = {}
    if tag.unit:
        props[UNIT] = (DataType.STRING, tag.unit)
    if tag.low is not None:
        props[LOW] = (DataType.DOUBLE, tag.low)
    if tag.high is not None:
        props[HIGH] = (DataType.DOUBLE, tag.high)
    props[READ_ONLY] = (DataType.BOOLEAN, tag.access == "ro")
    return props
