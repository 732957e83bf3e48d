"""The Sparkplug B payload schema (Eclipse Tahu ``sparkplug_b.proto``), declared in code for Google's protobuf.

The Sparkplug 3.0 specification defines the payload as a protobuf 2 schema, package
``org.eclipse.tahu.protobuf``. It is declared here field by field (name, number, type) and built
into message classes by the ``protobuf`` runtime itself, so encoding and decoding are protobuf's,
with no generated module to keep in step with the runtime's version and no ``protoc`` at build time.
The messages live in a pool of their own: another library that registers the same schema in
protobuf's default pool does not clash with this one. Extension ranges are left out (unknown
fields are kept and ignored).

>>> p = Payload(timestamp=1, seq=3)
>>> m = p.metrics.add(name="a.b", alias=1, datatype=DataType.DOUBLE, double_value=2.5)
>>> Payload.FromString(p.SerializeToString()).metrics[0].double_value
2.5
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "org.eclipse.tahu.protobuf"

_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {"uint32": _F.TYPE_UINT32, "uint64": _F.TYPE_UINT64, "float": _F.TYPE_FLOAT, "double": _F.TYPE_DOUBLE,
            "bool": _F.TYPE_BOOL, "string": _F.TYPE_STRING, "bytes": _F.TYPE_BYTES}

# message path -> fields: (name, number, type, repeated, oneof). A type not in _SCALARS names a message.
_MESSAGES: dict[str, list[tuple[str, int, str, bool, str | None]]] = {
    "Payload": [("timestamp", 1, "uint64", False, None), ("metrics", 2, "Payload.Metric", True, None),
                ("seq", 3, "uint64", False, None), ("uuid", 4, "string", False, None),
                ("body", 5, "bytes", False, None)],
    "Payload.Template": [("version", 1, "string", False, None), ("metrics", 2, "Payload.Metric", True, None),
                         ("parameters", 3, "Payload.Template.Parameter", True, None),
                         ("template_ref", 4, "string", False, None), ("is_definition", 5, "bool", False, None)],
    "Payload.Template.Parameter": [("name", 1, "string", False, None), ("type", 2, "uint32", False, None),
                                   *[(n, k + 3, t, False, "value") for k, (n, t) in enumerate(
                                       [("int_value", "uint32"), ("long_value", "uint64"), ("float_value", "float"),
                                        ("double_value", "double"), ("boolean_value", "bool"),
                                        ("string_value", "string")])]],
    "Payload.DataSet": [("num_of_columns", 1, "uint64", False, None), ("columns", 2, "string", True, None),
                        ("types", 3, "uint32", True, None), ("rows", 4, "Payload.DataSet.Row", True, None)],
    "Payload.DataSet.DataSetValue": [(n, k + 1, t, False, "value") for k, (n, t) in enumerate(
        [("int_value", "uint32"), ("long_value", "uint64"), ("float_value", "float"), ("double_value", "double"),
         ("boolean_value", "bool"), ("string_value", "string")])],
    "Payload.DataSet.Row": [("elements", 1, "Payload.DataSet.DataSetValue", True, None)],
    "Payload.PropertyValue": [("type", 1, "uint32", False, None), ("is_null", 2, "bool", False, None),
                              *[(n, k + 3, t, False, "value") for k, (n, t) in enumerate(
                                  [("int_value", "uint32"), ("long_value", "uint64"), ("float_value", "float"),
                                   ("double_value", "double"), ("boolean_value", "bool"), ("string_value", "string"),
                                   ("propertyset_value", "Payload.PropertySet"),
                                   ("propertysets_value", "Payload.PropertySetList")])]],
    "Payload.PropertySet": [("keys", 1, "string", True, None), ("values", 2, "Payload.PropertyValue", True, None)],
    "Payload.PropertySetList": [("propertyset", 1, "Payload.PropertySet", True, None)],
    "Payload.MetaData": [("is_multi_part", 1, "bool", False, None), ("content_type", 2, "string", False, None),
                         ("size", 3, "uint64", False, None), ("seq", 4, "uint64", False, None),
                         ("file_name", 5, "string", False, None), ("file_type", 6, "string", False, None),
                         ("md5", 7, "string", False, None), ("description", 8, "string", False, None)],
    "Payload.Metric": [("name", 1, "string", False, None), ("alias", 2, "uint64", False, None),
                       ("timestamp", 3, "uint64", False, None), ("datatype", 4, "uint32", False, None),
                       ("is_historical", 5, "bool", False, None), ("is_transient", 6, "bool", False, None),
                       ("is_null", 7, "bool", False, None), ("metadata", 8, "Payload.MetaData", False, None),
                       ("properties", 9, "Payload.PropertySet", False, None),
                       *[(n, k + 10, t, False, "value") for k, (n, t) in enumerate(
                           [("int_value", "uint32"), ("long_value", "uint64"), ("float_value", "float"),
                            ("double_value", "double"), ("boolean_value", "bool"), ("string_value", "string"),
                            ("bytes_value", "bytes"), ("dataset_value", "Payload.DataSet"),
                            ("template_value", "Payload.Template")])]],
}


class DataType(IntEnum):
    """Sparkplug B metric and property datatypes (the specification's ``DataType`` enum)."""

    UNKNOWN = 0
    INT8 = 1
    INT16 = 2
    INT32 = 3
    INT64 = 4
    UINT8 = 5
    UINT16 = 6
    UINT32 = 7
    UINT64 = 8
    FLOAT = 9
    DOUBLE = 10
    BOOLEAN = 11
    STRING = 12
    DATETIME = 13
    TEXT = 14
    UUID = 15
    DATASET = 16
    BYTES = 17
    FILE = 18
    TEMPLATE = 19
    PROPERTYSET = 20
    PROPERTYSETLIST = 21
    INT8_ARRAY = 22  # arrays (Sparkplug 3.0): packed little-endian in bytes_value
    INT16_ARRAY = 23
    INT32_ARRAY = 24
    INT64_ARRAY = 25
    UINT8_ARRAY = 26
    UINT16_ARRAY = 27
    UINT32_ARRAY = 28
    UINT64_ARRAY = 29
    FLOAT_ARRAY = 30
    DOUBLE_ARRAY = 31
    BOOLEAN_ARRAY = 32
    STRING_ARRAY = 33
    DATETIME_ARRAY = 34


def _file() -> descriptor_pb2.FileDescriptorProto:
    """The schema as a protobuf file descriptor (proto2, nested messages as in the specification)."""
    fdp = descriptor_pb2.FileDescriptorProto(name="sparkplug_b.proto", package=PACKAGE, syntax="proto2")
    made: dict[str, descriptor_pb2.DescriptorProto] = {}
    for path, fields in _MESSAGES.items():  # parents are listed before their nested messages
        parent, _, name = path.rpartition(".")
        message = (made[parent].nested_type if parent else fdp.message_type).add(name=name)
        made[path] = message
        oneofs: list[str] = []
        for field_name, number, kind, repeated, oneof in fields:
            field = message.field.add(name=field_name, number=number,
                                      label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
            if kind in _SCALARS:
                field.type = _SCALARS[kind]
            else:
                field.type, field.type_name = _F.TYPE_MESSAGE, f".{PACKAGE}.{kind}"
            if oneof is not None:
                if oneof not in oneofs:
                    oneofs.append(oneof)
                    message.oneof_decl.add(name=oneof)
                field.oneof_index = oneofs.index(oneof)
    return fdp


def _classes() -> dict[str, Any]:
    """Message classes of every schema message, by path (``Payload.Metric``)."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file())
    return {path: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{path}"))
            for path in _MESSAGES}


_CLASSES = _classes()
Payload: Any = _CLASSES["Payload"]
Metric: Any = _CLASSES["Payload.Metric"]
PropertySet: Any = _CLASSES["Payload.PropertySet"]
PropertyValue: Any = _CLASSES["Payload.PropertyValue"]
