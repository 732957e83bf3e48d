"""Compound metric values into historian elements: arrays, templates (UDTs) and data sets.

A host stores what any edge node sends, and other vendors' nodes (Ignition, Cirrus Link, gateways) send more
than scalars:

- **Arrays** (Sparkplug 3.0, datatypes 22–34) are packed in ``bytes_value``: little-endian numbers of the
  element's width; ``BooleanArray`` a 4-byte little-endian count then the bits, most significant bit first;
  ``StringArray`` null-terminated UTF-8 strings; ``DateTimeArray`` int64 ms. Each element becomes
  ``name[i]``, the form the historian already uses for array tags.
- **Templates** (user-defined types) become one element per member, ``name/member`` (nested templates
  ``name/member/inner``); a template *definition* (``is_definition``, sent in NBIRTH) carries no values.
- **Data sets** (tables) become one text value: JSON ``{"columns": [...], "types": [...], "rows": [[...]]}``.

>>> from twin.edge.sparkplug.schema import Metric
>>> m = Metric(datatype=DataType.INT16_ARRAY, bytes_value=struct.pack("<3h", -1, 2, 300))
>>> expand(m, DataType.INT16_ARRAY)
[('[0]', <DataType.INT16: 2>, -1.0), ('[1]', <DataType.INT16: 2>, 2.0), ('[2]', <DataType.INT16: 2>, 300.0)]
>>> b = Metric(datatype=DataType.BOOLEAN_ARRAY, bytes_value=struct.pack("<I", 3) + bytes([0b10100000]))
>>> [v for _, _, v in expand(b, DataType.BOOLEAN_ARRAY)]
[1.0, 0.0, 1.0]
"""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime
from typing import Any

from twin.edge.sparkplug.schema import DataType
from twin.edge.sparkplug.values import get_value

# array datatype -> (struct code of one element, the element's scalar datatype)
ARRAYS: dict[DataType, tuple[str, DataType]] = {
    DataType.INT8_ARRAY: ("b", DataType.INT8), DataType.INT16_ARRAY: ("h", DataType.INT16),
    DataType.INT32_ARRAY: ("i", DataType.INT32), DataType.INT64_ARRAY: ("q", DataType.INT64),
    DataType.UINT8_ARRAY: ("B", DataType.UINT8), DataType.UINT16_ARRAY: ("H", DataType.UINT16),
    DataType.UINT32_ARRAY: ("I", DataType.UINT32), DataType.UINT64_ARRAY: ("Q", DataType.UINT64),
    DataType.FLOAT_ARRAY: ("f", DataType.FLOAT), DataType.DOUBLE_ARRAY: ("d", DataType.DOUBLE),
    DataType.DATETIME_ARRAY: ("q", DataType.DATETIME),
}
COMPOUND = frozenset({*ARRAYS, DataType.BOOLEAN_ARRAY, DataType.STRING_ARRAY, DataType.TEMPLATE, DataType.DATASET})

Element = tuple[str, DataType, float | str | None]  # name suffix ("" for the metric itself), datatype, value


def expand(metric: Any, datatype: DataType, known: dict[str, DataType] | None = None) -> list[Element]:
    """``metric``'s value as elements (suffix, scalar datatype, value); a scalar is one element with suffix "".

    ``known`` gives template members' datatypes by suffix when a data message leaves them out (as the birth
    declared them). ValueError for array bytes that do not fit their datatype."""
    if datatype == DataType.TEMPLATE:
        return _template(metric, known or {}) if metric.HasField("template_value") else []
    if datatype == DataType.DATASET:
        return [("", DataType.STRING, _dataset(metric.dataset_value) if metric.HasField("dataset_value") else None)]
    if datatype in ARRAYS or datatype in (DataType.BOOLEAN_ARRAY, DataType.STRING_ARRAY):
        return _array(metric, datatype)
    return [("", datatype, get_value(metric, datatype))]


def _array(metric: Any, datatype: DataType) -> list[Element]:
    if metric.is_null or not metric.HasField("bytes_value"):
        return []
    raw = bytes(metric.bytes_value)
    if datatype == DataType.STRING_ARRAY:
        texts = raw[:-1].split(b"\0") if raw.endswith(b"\0") else (raw.split(b"\0") if raw else [])
        return [(f"[{k}]", DataType.STRING, t.decode("utf-8", "replace")) for k, t in enumerate(texts)]
    if datatype == DataType.BOOLEAN_ARRAY:
        if len(raw) < 4:
            raise ValueError(f"BooleanArray of {len(raw)} bytes: no 4-byte count")
        (n,) = struct.unpack_from("<I", raw)
        if len(raw) - 4 < (n + 7) // 8:
            raise ValueError(f"BooleanArray says {n} values but holds {8 * (len(raw) - 4)} bits")
        return [(f"[{k}]", DataType.BOOLEAN, float(raw[4 + k // 8] >> (7 - k % 8) & 1)) for k in range(n)]
    code, element = ARRAYS[datatype]
    width = struct.calcsize(code)
    if len(raw) % width:
        raise ValueError(f"{datatype.name} of {len(raw)} bytes: not a whole number of {width}-byte values")
    values = struct.unpack(f"<{len(raw) // width}{code}", raw)
    if element == DataType.DATETIME:
        return [(f"[{k}]", DataType.DATETIME, datetime.fromtimestamp(v / 1000, tz=UTC).isoformat(
            timespec="milliseconds")) for k, v in enumerate(values)]
    return [(f"[{k}]", element, float(v)) for k, v in enumerate(values)]


def _template(metric: Any, known: dict[str, DataType]) -> list[Element]:
    template = metric.template_value
    if template.is_definition:
        return []
    out: list[Element] = []
    for member in template.metrics:
        suffix = f"/{member.name}"
        datatype = _datatype(member.datatype) if member.datatype else known.get(suffix, DataType.UNKNOWN)
        inner = {k.removeprefix(suffix): v for k, v in known.items() if k.startswith(suffix + "/")}
        out += [(suffix + sub, kind, value) for sub, kind, value in expand(member, datatype, inner)]
    return out


def _dataset(dataset: Any) -> str:
    types = [_datatype(t) for t in dataset.types]
    rows = []
    for row in dataset.rows:
        rows.append([bool(cell.boolean_value) if kind == DataType.BOOLEAN else get_value(cell, kind)
                     for kind, cell in zip(types, row.elements, strict=False)])
    return json.dumps({"columns": list(dataset.columns), "types": [t.name for t in types], "rows": rows},
                      separators=(",", ":"))


def _datatype(code: int) -> DataType:
    return DataType(code) if code in DataType._value2member_map_ else DataType.UNKNOWN
