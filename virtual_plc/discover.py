"""Discover a tag map by browsing an OPC UA server (``twin tags discover``).

:func:`discover` opens one session (with the security and login of an
:class:`~virtual_plc.endpoints.Endpoint`), browses the address space breadth-first from a start
node (the Objects folder by default) down to a depth, and makes one :class:`~virtual_plc.tagmap.Tag`
per variable it can map. Every service call is batched: one Browse (then BrowseNext while the
server hands out continuation points) per level and up to :data:`BATCH` nodes, one Read per
:data:`BATCH` attributes, never a round trip per node; a server that declares smaller operation
limits (``MaxNodesPerBrowse``/``MaxNodesPerRead``) gets smaller batches.

What a tag gets from its variable
---------------------------------
* ``name``: the plant, then the browse names below the start node, each made a word
  (:func:`~virtual_plc.tagimport.name_segment`); two variables that would get the same name are
  told apart by ``_2``, ``_3``... in the order of their browse paths.
* ``dtype``: from the DataType (Boolean, SByte, Byte, Int16, UInt16, Int32, UInt32, Int64, UInt64,
  Float, Double, String, DateTime, a subtype of one of these, an enumeration as ``int32``; the
  abstract BaseDataType/Number/Integer/UInteger by the current value's type); ``length`` from a
  one-dimensional ValueRank with fixed ArrayDimensions.
* ``access``: ``rw`` when AccessLevel and UserAccessLevel both allow CurrentWrite and the tag is a
  number or bool scalar (text and array tags are read-only in a tag map), else ``ro``.
* ``unit`` and ``low``/``high``: the EngineeringUnits DisplayName and the EURange (Part 8 properties).
* ``period_ms``: the MinimumSamplingInterval rounded up, or ``default_period_ms`` where the server
  says 0 or -1 (as fast as possible / unknown).
* ``opcua_node``: the node id with its namespace by URI (``nsu=URI;s=...``), so the map survives a
  server that renumbers its namespaces; ``description``: the node's Description.

Variables that cannot be a tag are in :attr:`DiscoveryResult.skipped` with the reason: structures
(ExtensionObject values), data types no tag type holds (LocalizedText, ByteString, NodeId...),
text arrays, arrays without a fixed length, unreadable variables. Properties (HasProperty) describe
their node and are not tags; the standard namespace (ns=0: the Server object and its diagnostics)
is not browsed unless asked. No Modbus addresses are set (the tag map allocates them) and there is
no clock tag.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from asyncua import Client, ua
from pydantic import ValidationError

from qtconfig import ConfigError
from virtual_plc.drivers import _login_hint, _quiet_disconnect, configure_client, eu_range, eu_unit, new_client
from virtual_plc.endpoints import Endpoint
from virtual_plc.tagimport import name_segment
from virtual_plc.tagmap import TAG_NAME, Tag, TagMap

OBJECTS = "i=85"  # the Objects folder, where a server's own nodes start
DEFAULT_DEPTH = 10
DEFAULT_PERIOD_MS = 1000
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_PLANT = "line"
BATCH = 500  # operations per Browse/Read request (servers cap them; a declared smaller limit wins)
OPCUA_PORT = 4840

_DTYPES = {  # built-in DataType (and VariantType) number -> our dtype
    1: "bool", 2: "int8", 3: "uint8", 4: "int16", 5: "uint16", 6: "int32", 7: "uint32", 8: "int64", 9: "uint64",
    10: "float32", 11: "float64", 12: "string", 13: "datetime",
}
_STRUCTURE, _ENUMERATION = 22, 29
_ABSTRACT = frozenset({24, 26, 27, 28})  # BaseDataType, Number, Integer, UInteger: the value tells
_OTHER_BUILTINS = frozenset(range(14, 26)) - {_STRUCTURE, 24}  # Guid ... DiagnosticInfo: no tag type
_EU_PROPERTIES = ("EngineeringUnits", "EURange")
_ATTRIBUTES = (ua.AttributeIds.DataType, ua.AttributeIds.ValueRank, ua.AttributeIds.ArrayDimensions,
               ua.AttributeIds.AccessLevel, ua.AttributeIds.UserAccessLevel,
               ua.AttributeIds.MinimumSamplingInterval, ua.AttributeIds.Description)
_READ, _WRITE = 1, 2  # AccessLevel bits CurrentRead, CurrentWrite
_HAS_PROPERTY = ua.NodeId(ua.ObjectIds.HasProperty)
_SUPERTYPE_HOPS = 16  # a DataType further than this from a built-in one is not followed


class DiscoveryError(Exception):
    """The server could not be reached, refused the session or the login, or stopped answering; names the URL."""


@dataclass(frozen=True)
class Skipped:
    """A variable (or a node whose browse failed) that did not become a tag, and why."""

    path: str
    node: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path} ({self.node}): {self.reason}"


@dataclass
class DiscoveryResult:
    """The tag map of a browse, what it skipped and what it changed.

    ``browsed``: nodes whose references were browsed; ``variables``: variables found (each a tag of
    ``tagmap`` or in ``skipped``); ``notes``: remarks on the whole browse (renamed tags, writable
    variables made read-only, parts of the address space not browsed).
    """

    url: str
    tagmap: TagMap
    browsed: int
    variables: int
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def skipped_by_reason(self) -> dict[str, int]:
        """How many variables were skipped for each reason, most frequent first."""
        return dict(Counter(s.reason for s in self.skipped).most_common())


@dataclass
class _Node:
    """A node found by the browse: where it is and, for a variable, where its EU properties are."""

    nodeid: ua.NodeId
    path: tuple[str, ...]
    depth: int
    variable: bool
    properties: dict[str, ua.NodeId] = field(default_factory=dict)


def endpoint_for(url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, **options: Any) -> Endpoint:
    """An OPC UA :class:`Endpoint` for ``opc.tcp://HOST[:PORT][/path]`` with the given security and login fields.

    Raises ``ValueError`` for a URL that is not ``opc.tcp://`` and for options the endpoint refuses.
    """
    parts = urlsplit(url)
    if parts.scheme != "opc.tcp" or not parts.hostname:
        raise ValueError(f"{url!r} is not an OPC UA URL like opc.tcp://HOST:PORT")
    return Endpoint(name=url, protocol="opcua", host=parts.hostname, port=parts.port or OPCUA_PORT,
                    timeout_s=timeout_s, **options)


async def discover(
    url: str,
    *,
    endpoint: Endpoint | None = None,
    start: str = OBJECTS,
    depth: int = DEFAULT_DEPTH,
    plant: str | None = None,
    default_period_ms: int = DEFAULT_PERIOD_MS,
    include_standard: bool = False,
    batch: int = BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> DiscoveryResult:
    """Browse the server at ``url`` from ``start`` down ``depth`` references; one tag per variable it can map.

    ``endpoint`` gives security, login and timeout (default: anonymous, no security); ``start`` is
    a node id (``nsu=URI;...`` names its namespace by URI); ``plant`` is the first word of every tag
    name (default: the server's application name, else ``line``); ``include_standard`` also browses
    nodes of the standard namespace below the start node. ``progress(browsed, total)`` is called
    after every Browse batch with the nodes browsed so far and those plus the ones found waiting to be.

    Raises :class:`DiscoveryError` when the server cannot be reached, refuses the session or the
    login, or fails a request; ``ValueError`` for a ``start`` that is no node id or not on the
    server, and :class:`~qtconfig.ConfigError` for a login the endpoint names but cannot find.
    """
    if depth < 0 or default_period_ms < 1 or batch < 1:
        raise ValueError("depth must be >= 0, default_period_ms and batch >= 1")
    if plant is not None and name_segment(plant) != plant:
        raise ValueError(f"plant {plant!r} must be one word (letters, digits, _; not starting with a digit)")
    try:
        start_id = ua.NodeId.from_string(start)
    except (ua.UaError, ValueError):
        raise ValueError(f"start node {start!r} is no node id (like i=85, ns=2;s=Line or nsu=URI;s=Line)") from None
    endpoint = endpoint or endpoint_for(url)
    client = new_client(endpoint, url)
    try:
        await configure_client(client, endpoint)
        await client.connect()
    except ConfigError:  # a login the endpoint names but cannot find: the caller's to fix, not the server's
        await _quiet_disconnect(client)
        raise
    except (TimeoutError, OSError, ua.UaError, ValueError, ConnectionError) as err:
        await _quiet_disconnect(client)
        raise DiscoveryError(f"OPC UA server at {url}: {_why(err, endpoint)}") from err
    try:
        session = _Session(client, batch, progress)
        await session.prepare()
        plant = plant or await session.server_name() or DEFAULT_PLANT
        nodes, browsed = await session.browse(session.resolve(start_id, start), depth, include_standard)
        tags = await session.tags(nodes, plant, default_period_ms)
    except (TimeoutError, OSError, ua.UaError, ConnectionError) as err:
        raise DiscoveryError(f"OPC UA server at {url}: {_why(err, endpoint)}") from err
    finally:
        await _quiet_disconnect(client)
    tagmap = TagMap(plant=plant, opcua_namespace=f"urn:quality-twin:{plant}", clock_tag=None,
                    tags=sorted(tags, key=lambda t: t.name))
    variables = sum(n.variable for n in nodes)
    return DiscoveryResult(url, tagmap, browsed, variables, session.skipped, session.notes)


def _why(err: BaseException, endpoint: Endpoint) -> str:
    """A failed request said in words (a timeout says how long it waited; a refused login says so)."""
    if isinstance(err, TimeoutError) and not str(err):
        return f"no answer within {endpoint.timeout_s:g} s"
    return str(_login_hint(err))


class _Session:
    """The browse and the reads of one discovery, over one connected client."""

    def __init__(self, client: Client, batch: int, progress: Callable[[int, int], None] | None) -> None:
        self.client = client
        self.browse_batch = self.read_batch = batch
        self.progress = progress
        self.namespaces: list[str] = []
        self._standard = self._beyond = 0  # nodes of ns=0 passed over, objects at the depth bound
        self.skipped: list[Skipped] = []
        self.notes: list[str] = []

    async def prepare(self) -> None:
        """The namespace table, and the server's operation limits where it declares them."""
        ids = (
            ua.ObjectIds.Server_NamespaceArray,
            ua.ObjectIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead,
            ua.ObjectIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerBrowse,
        )
        namespaces, per_read, per_browse = await self.read([(ua.NodeId(i), ua.AttributeIds.Value) for i in ids])
        self.namespaces = list(_value(namespaces) or [])
        for limit, attr in ((_value(per_read), "read_batch"), (_value(per_browse), "browse_batch")):
            if isinstance(limit, int) and limit > 0:
                setattr(self, attr, min(getattr(self, attr), limit))

    async def server_name(self) -> str | None:
        """The server's application name as one lower-case word, if it gives one."""
        try:
            endpoints = await self.client.get_endpoints()
        except (ua.UaError, TimeoutError, OSError, ConnectionError):
            return None
        names = [e.Server.ApplicationName.Text for e in endpoints if e.Server and e.Server.ApplicationName]
        word = name_segment(names[0].lower()).strip("_") if names and names[0] else ""
        return word if word and name_segment(word) == word else None

    def resolve(self, nodeid: ua.NodeId, shown: str) -> ua.NodeId:
        """``nodeid`` with a namespace URI made an index of this server."""
        uri = getattr(nodeid, "NamespaceUri", None)
        if not uri:
            return ua.NodeId(nodeid.Identifier, nodeid.NamespaceIndex, nodeid.NodeIdType)
        if uri not in self.namespaces:
            raise ValueError(f"start node {shown!r}: the server has no namespace {uri}")
        return ua.NodeId(nodeid.Identifier, self.namespaces.index(uri), nodeid.NodeIdType)

    def node_text(self, nodeid: ua.NodeId) -> str:
        """The node id as a tag map writes it: ``nsu=URI;...`` outside the standard namespace."""
        local = ua.NodeId(nodeid.Identifier, 0, nodeid.NodeIdType).to_string()
        index = nodeid.NamespaceIndex
        if index == 0:
            return local
        if index < len(self.namespaces):
            return f"nsu={self.namespaces[index]};{local}"
        return nodeid.to_string()

    # ------------------------------------------------------------------ services
    async def read(self, items: Sequence[tuple[ua.NodeId, ua.AttributeIds]]) -> list[ua.DataValue]:
        """One DataValue per (node, attribute), read in batches."""
        values: list[ua.DataValue] = []
        for first in range(0, len(items), self.read_batch):
            params = ua.ReadParameters()
            params.TimestampsToReturn = ua.TimestampsToReturn.Neither
            chunk = items[first:first + self.read_batch]
            params.NodesToRead = [ua.ReadValueId(NodeId=n, AttributeId=a) for n, a in chunk]
            values.extend(await self.client.uaclient.read(params))
        return values

    async def references(self, nodes: Sequence[ua.NodeId], direction: ua.BrowseDirection = ua.BrowseDirection.Forward,
                         reference: int = ua.ObjectIds.HierarchicalReferences,
                         classes: int = ua.NodeClass.Object | ua.NodeClass.Variable,
                         ) -> list[list[ua.ReferenceDescription] | ua.StatusCode]:
        """Each node's references (following continuation points), or the status its browse failed with."""
        found: list[list[ua.ReferenceDescription] | ua.StatusCode] = []
        for first in range(0, len(nodes), self.browse_batch):
            found.extend(await self._browse(nodes[first:first + self.browse_batch], direction, reference, classes))
        return found

    async def _browse(self, nodes: Sequence[ua.NodeId], direction: ua.BrowseDirection, reference: int,
                      classes: int) -> list[list[ua.ReferenceDescription] | ua.StatusCode]:
        """One Browse request, then BrowseNext until every continuation point is used up."""
        params = ua.BrowseParameters()
        params.RequestedMaxReferencesPerNode = self.browse_batch  # a larger folder continues with BrowseNext
        params.NodesToBrowse = [ua.BrowseDescription(
            NodeId=n, BrowseDirection=direction, ReferenceTypeId=ua.NodeId(reference), IncludeSubtypes=True,
            NodeClassMask=classes, ResultMask=ua.BrowseResultMask.All) for n in nodes]
        results = await self.client.uaclient.browse(params)
        found: list[list[ua.ReferenceDescription] | ua.StatusCode] = []
        pending: dict[int, bytes] = {}
        for i, result in enumerate(results):
            found.append(list(result.References or []) if result.StatusCode.is_good() else result.StatusCode)
            if result.StatusCode.is_good() and result.ContinuationPoint:
                pending[i] = result.ContinuationPoint
        while pending:
            keys = list(pending)
            more = await self.client.uaclient.browse_next(ua.BrowseNextParameters(
                ReleaseContinuationPoints=False, ContinuationPoints=[pending.pop(k) for k in keys]))
            for k, result in zip(keys, more):
                refs = found[k]
                if not result.StatusCode.is_good():
                    found[k] = result.StatusCode
                elif isinstance(refs, list):
                    refs.extend(result.References or [])
                    if result.ContinuationPoint:
                        pending[k] = result.ContinuationPoint
        retry = [i for i, r in enumerate(found) if isinstance(r, ua.StatusCode)
                 and r.value == ua.StatusCodes.BadNoContinuationPoints and len(nodes) > 1]
        for i in retry:  # the server ran out of continuation points for this batch: alone, it has enough
            found[i] = (await self._browse([nodes[i]], direction, reference, classes))[0]
        return found

    # -------------------------------------------------------------------- browse
    async def browse(self, start: ua.NodeId, depth: int, include_standard: bool) -> tuple[list[_Node], int]:
        """Every object and variable down ``depth`` hierarchical references from ``start`` (each once)."""
        (start_class, start_name) = await self.read([(start, ua.AttributeIds.NodeClass),
                                                     (start, ua.AttributeIds.BrowseName)])
        if not _good(start_class):
            raise ValueError(f"start node {self.node_text(start)}: {start_class.StatusCode.name}")
        is_variable = _value(start_class) == ua.NodeClass.Variable
        name = _value(start_name).Name if _value(start_name) is not None else str(start.Identifier)
        root = _Node(start, (name,) if is_variable else (), 0, is_variable)
        found, seen, frontier, browsed = [root] if is_variable else [], {start}, [root], 0
        self._standard = self._beyond = 0
        while frontier:
            below: list[_Node] = []
            queued = 0  # nodes of ``below`` that will be browsed
            for first in range(0, len(frontier), self.browse_batch):
                chunk = frontier[first:first + self.browse_batch]
                for node, refs in zip(chunk, await self.references([n.nodeid for n in chunk])):
                    if isinstance(refs, ua.StatusCode):
                        self.skipped.append(Skipped(_path(node.path), self.node_text(node.nodeid),
                                                    f"browse failed ({refs.name}): nothing below it was found"))
                        continue
                    children = self._children(node, refs, seen, depth, include_standard)
                    below += children
                    queued += sum(n.variable or n.depth < depth for n in children)
                browsed += len(chunk)
                if self.progress is not None:
                    self.progress(browsed, len(frontier) - first - len(chunk) + browsed + queued)
            found += [n for n in below if n.variable]
            frontier = [n for n in below if n.variable or n.depth < depth]
            self._beyond += len(below) - len(frontier)
        if self._standard:
            self.notes.append(f"{self._standard} node(s) of the standard namespace (ns=0, such as the Server object) "
                              "not browsed (--include-standard browses them)")
        if self._beyond:
            self.notes.append(f"{self._beyond} object(s) at depth {depth} not browsed further (a larger --depth "
                              "reaches what is below them)")
        return found, browsed

    def _children(self, node: _Node, refs: list[ua.ReferenceDescription], seen: set[ua.NodeId], depth: int,
                  include_standard: bool) -> list[_Node]:
        """The nodes first found below ``node``; its EU properties noted on it (by name in any namespace: Part 8
        puts them in ns=0, some servers do not; their values' types are checked)."""
        children = []
        for ref in refs:
            target = self._local(ref.NodeId)
            if target is None:
                continue
            if ref.ReferenceTypeId == _HAS_PROPERTY:
                if node.variable and ref.BrowseName.Name in _EU_PROPERTIES:
                    node.properties[ref.BrowseName.Name] = target
            elif node.depth < depth and target not in seen:
                if target.NamespaceIndex == 0 and not include_standard:
                    self._standard += 1
                    continue
                seen.add(target)
                children.append(_Node(target, (*node.path, ref.BrowseName.Name), node.depth + 1,
                                      ref.NodeClass == ua.NodeClass.Variable))
        return children

    def _local(self, target: ua.NodeId) -> ua.NodeId | None:
        """A reference's target as a NodeId of this server (None: on another server, or an unknown namespace)."""
        if getattr(target, "ServerIndex", 0):
            return None
        index, uri = target.NamespaceIndex, getattr(target, "NamespaceUri", None)
        if uri:
            if uri not in self.namespaces:
                return None
            index = self.namespaces.index(uri)
        return ua.NodeId(target.Identifier, index, target.NodeIdType)

    # ---------------------------------------------------------------------- tags
    async def tags(self, nodes: list[_Node], plant: str, default_period_ms: int) -> list[Tag]:
        """The tags of the variables among ``nodes``; the others go to ``skipped``."""
        variables = sorted((n for n in nodes if n.variable), key=lambda n: (n.path, self.node_text(n.nodeid)))
        names, renamed = unique_tag_names([v.path for v in variables], plant)
        self.notes.extend(renamed)
        attrs = await self.read([(v.nodeid, a) for v in variables for a in _ATTRIBUTES])
        rows = [attrs[i * len(_ATTRIBUTES):(i + 1) * len(_ATTRIBUTES)] for i in range(len(variables))]
        props = [(v, p, nid) for v in variables for p, nid in v.properties.items()]
        eu = {(id(v), p): _value(dv) for (v, p, _), dv in
              zip(props, await self.read([(nid, ua.AttributeIds.Value) for _, _, nid in props])) if _good(dv)}
        kinds = await self._kinds({_value(row[0]) for row in rows if _good(row[0])})
        guessing = [v for v, row in zip(variables, rows)
                    if _good(row[0]) and (kinds.get(_value(row[0]), ("", ""))[0] == "abstract"
                                          or _value(row[1]) in (ua.ValueRank.Any, ua.ValueRank.ScalarOrOneDimension))]
        current = dict(zip(map(id, guessing), await self.read([(v.nodeid, ua.AttributeIds.Value) for v in guessing])))
        tags: list[Tag] = []
        made_ro = by_value = 0
        for variable, name, row in zip(variables, names, rows):
            node = self.node_text(variable.nodeid)
            try:
                dtype, length, guessed = _type_of(row, kinds, current.get(id(variable)))
                tag, writable = _tag(name, node, dtype, length, row, default_period_ms, variable.path[-1],
                                     eu.get((id(variable), "EngineeringUnits")), eu.get((id(variable), "EURange")))
            except _Skip as skip:
                self.skipped.append(Skipped(_path(variable.path), node, skip.reason))
                continue
            tags.append(tag)
            made_ro += writable and tag.access == "ro"
            by_value += guessed
        writable_tags = sum(t.access == "rw" for t in tags)
        if writable_tags:
            self.notes.append(f"{writable_tags} tag(s) are rw because the server lets this user write them; keep rw "
                              "only for real setpoints (the edge's interlocks refuse writes to ro tags only)")
        if made_ro:
            self.notes.append(f"{made_ro} writable text or array variable(s) made read-only (a tag map writes "
                              "only number and bool scalars)")
        if by_value:
            self.notes.append(f"{by_value} variable(s) of an abstract data type or ValueRank typed by their current "
                              "value; check them")
        return tags

    async def _kinds(self, types: set[Any]) -> dict[ua.NodeId, tuple[str, str]]:
        """Each DataType's kind (a dtype, ``enum``, ``structure``, ``abstract``, ``other``, ``unknown``) and name.

        A type that is not built in is followed up its HasSubtype chain (one batched inverse browse
        per step) to the built-in type it derives from.
        """
        types = {t for t in types if isinstance(t, ua.NodeId)}
        names = {t: ua.ObjectIdNames.get(t.Identifier, t.to_string()) for t in types if t.NamespaceIndex == 0}
        custom = [t for t in types if t.NamespaceIndex != 0]
        for t, dv in zip(custom, await self.read([(t, ua.AttributeIds.BrowseName) for t in custom])):
            names[t] = _value(dv).Name if _good(dv) and _value(dv) else t.to_string()
        kinds: dict[ua.NodeId, tuple[str, str]] = {}
        chain = {t: t for t in types}  # type -> the ancestor reached so far
        for _ in range(_SUPERTYPE_HOPS):
            open_types = []
            for t, ancestor in chain.items():
                kind = _builtin_kind(ancestor)
                if kind is not None:
                    kinds[t] = (kind, names[t])
                else:
                    open_types.append(t)
            chain = {t: chain[t] for t in open_types}
            if not chain:
                break
            ancestors = sorted(set(chain.values()), key=lambda n: n.to_string())
            parents = await self.references(ancestors, ua.BrowseDirection.Inverse, ua.ObjectIds.HasSubtype,
                                            ua.NodeClass.DataType)
            parent_of = {a: self._local(refs[0].NodeId) for a, refs in zip(ancestors, parents)
                         if isinstance(refs, list) and refs}
            for t in list(chain):
                parent = parent_of.get(chain[t])
                if parent is None:
                    kinds[t] = ("unknown", names[t])
                    del chain[t]
                else:
                    chain[t] = parent
        kinds.update({t: ("unknown", names[t]) for t in chain})
        return kinds


class _Skip(Exception):
    """This variable cannot become a tag, for ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _tag(name: str, node: str, dtype: str, length: int | None, row: list[ua.DataValue], default_period_ms: int,
         browse_name: str, units: Any, limits: Any) -> tuple[Tag, bool]:
    """The tag of a variable whose type is known, and whether the server lets this user write it."""
    access = _value(row[3]) or 0
    user = access if _value(row[4]) is None else _value(row[4])  # a server without UserAccessLevel: AccessLevel
    if not access & user & _READ:
        raise _Skip("not readable (AccessLevel/UserAccessLevel lacks CurrentRead)")
    writable = bool(access & user & _WRITE)
    text = dtype in ("string", "datetime")
    fields: dict[str, Any] = {}
    if (unit := eu_unit(units)) is not None:
        fields["unit"] = unit
    if not text and (low_high := eu_range(limits)) is not None:
        fields.update(low=low_high[0], high=low_high[1])
    sampling = _value(row[5])
    period = math.ceil(sampling) if isinstance(sampling, (int, float)) and sampling > 0 else default_period_ms
    description = _value(row[6])
    if isinstance(description, ua.LocalizedText) and description.Text and description.Text != browse_name:
        fields["description"] = description.Text
    try:
        tag = Tag(name=name, dtype=dtype, length=length, period_ms=max(1, period), opcua_node=node,
                  access="rw" if writable and not text and length is None else "ro", **fields)
    except ValidationError as err:
        raise _Skip("; ".join(e["msg"] for e in err.errors())) from None
    return tag, writable


def _builtin_kind(datatype: ua.NodeId) -> str | None:
    """The kind of a standard DataType that ends the supertype walk; None to walk on."""
    if datatype.NamespaceIndex != 0 or not isinstance(datatype.Identifier, int):
        return None
    number = datatype.Identifier
    if number in _DTYPES:
        return _DTYPES[number]
    if number == _ENUMERATION:
        return "enum"
    if number == _STRUCTURE:
        return "structure"
    if number in _ABSTRACT:
        return "abstract"
    return "other" if number in _OTHER_BUILTINS else None


def _type_of(row: list[ua.DataValue], kinds: dict[ua.NodeId, tuple[str, str]],
             current: ua.DataValue | None) -> tuple[str, int | None, bool]:
    """(dtype, length, typed by its value) of a variable from its attributes; raises :class:`_Skip`."""
    if not _good(row[0]):
        raise _Skip(f"cannot read its DataType ({row[0].StatusCode.name})")
    kind, type_name = kinds.get(_value(row[0]), ("unknown", str(_value(row[0]))))
    rank = _value(row[1]) if _good(row[1]) else ua.ValueRank.Scalar
    guessed = kind == "abstract" or rank in (ua.ValueRank.Any, ua.ValueRank.ScalarOrOneDimension)
    value = current.Value if current is not None and _good(current) else None
    if kind == "abstract":
        if value is None or value.Value is None:
            raise _Skip(f"data type {type_name} is abstract and there is no value to tell the type by")
        kind = _DTYPES.get(int(value.VariantType.value), "other")
        type_name = f"{type_name} holding {value.VariantType.name}"
    if kind == "structure":
        raise _Skip(f"data type {type_name} is a structure (ExtensionObject): no tag type holds it")
    if kind == "other":
        raise _Skip(f"data type {type_name} has no tag type")
    if kind == "unknown":
        raise _Skip(f"data type {type_name} is not derived from a built-in type the discovery knows")
    dtype = "int32" if kind == "enum" else kind
    if rank in (ua.ValueRank.Any, ua.ValueRank.ScalarOrOneDimension):
        if value is None or isinstance(value.Value, list):
            raise _Skip(f"ValueRank {rank} without a scalar value: an array needs a fixed length")
        rank = ua.ValueRank.Scalar
    if rank == ua.ValueRank.Scalar:
        return dtype, None, guessed
    if rank != ua.ValueRank.OneDimension:
        raise _Skip("multi-dimensional array" if rank > 1 else f"ValueRank {rank}: an array without a fixed length")
    dims = _value(row[2]) if _good(row[2]) else None
    if not dims or len(dims) != 1 or not dims[0]:
        raise _Skip("array without a fixed length (ArrayDimensions): a tag needs one")
    if dtype in ("string", "datetime"):
        raise _Skip(f"array of {type_name}: {dtype} tags are scalars")
    return dtype, int(dims[0]), guessed


def unique_tag_names(paths: Sequence[Sequence[str]], plant: str) -> tuple[list[str], list[str]]:
    """A tag name for each browse path (``plant.Word.Word``), all different; and a note per name changed.

    Each browse name becomes a word (:func:`~virtual_plc.tagimport.name_segment`); the plant is put
    first unless the path starts with it. Where several paths give the same name, the first path in
    sorted order keeps it and the others get ``_2``, ``_3``... (never a name another path has).

    >>> names, notes = unique_tag_names([("Oven", "Temp 1"), ("Oven", "Temp-1"), ("1st",)], "line")
    >>> names
    ['line.Oven.Temp_1', 'line.Oven.Temp_1_2', 'line._1st']
    >>> notes
    ['Oven/Temp-1 became line.Oven.Temp_1_2 (line.Oven.Temp_1 is Oven/Temp 1)']
    """
    prefix = name_segment(plant)
    base = []
    for path in paths:
        words = [name_segment(p) for p in path] or ["_"]
        base.append(".".join(words if words[0] == prefix and len(words) > 1 else [prefix, *words]))
    taken = set(base)
    first: dict[str, int] = {}
    names: list[str] = list(base)
    notes: list[str] = []
    for i in sorted(range(len(paths)), key=lambda i: (tuple(paths[i]), i)):
        name = base[i]
        if name not in first:
            first[name] = i
            continue
        k = 2
        while f"{name}_{k}" in taken:
            k += 1
        names[i] = f"{name}_{k}"
        taken.add(names[i])
        notes.append(f"{_path(paths[i])} became {names[i]} ({name} is {_path(paths[first[name]])})")
    assert all(TAG_NAME.match(n) for n in names), names
    return names, notes


def _path(path: Sequence[str]) -> str:
    """A browse path as shown: browse names joined by ``/`` (the start node itself: ``.``)."""
    return "/".join(path) or "."


def _good(dv: ua.DataValue) -> bool:
    return dv.StatusCode is None or dv.StatusCode.is_good()


def _value(dv: ua.DataValue) -> Any:
    return dv.Value.Value if dv.Value is not None and _good(dv) else None


__all__: Sequence[str] = ["DiscoveryError", "DiscoveryResult", "Skipped", "discover", "endpoint_for",
                          "unique_tag_names"]
