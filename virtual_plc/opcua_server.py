"""OPC UA adapter over a :class:`~virtual_plc.image.ProcessImage` (asyncua server).

Every tag is a ``Double`` variable (an array of ``Double`` for array tags) with node id
``ns=2;s=<tag name>``, under an object per asset (``Objects/coater/blade3/pressure``),
holding the engineering value exactly as a Modbus reader decodes it. A tag that reads
NaN (sensor dropout) reads with status ``BadSensorFailure``.

Nodes are served on read: a scan only copies the due values into one vector
(:meth:`OpcUaPlcServer.publish`), and a node builds its DataValue when a client reads it.
Pushing thousands of values into asyncua's address space every scan cost more than the
edge's whole poll; most of them (the fast tags) are read over Modbus anyway. Clients that
subscribe still get a data-change notification for every refresh of a node they monitor.

Client writes are answered as OPC UA Part 4 (Write service) says, checked in this order:
``BadNodeIdUnknown`` for a node the server does not have, ``BadAttributeIdInvalid`` for an
attribute the node does not have, ``BadNotWritable`` for anything but the Value of a read-write
tag (read-only tags, every other attribute and node), ``BadUserAccessDenied`` for a session that
may not write (:mod:`virtual_plc.security`), ``BadIndexRangeInvalid`` for a write to part of a
value, ``BadWriteNotSupported`` for a value that carries a Bad or Uncertain status,
``BadTypeMismatch`` for anything but a scalar ``Double``, and ``BadOutOfRange`` for a value
outside the engineering range (NaN and infinities included). A refused write changes nothing.

Who may connect and write is :mod:`virtual_plc.security`'s: never an administrator (no client
may add, rename or delete nodes); without a security file anyone may read and subscribe but only
a server started with ``anonymous_writes=True`` takes writes; with one, only Basic256Sha256 (Sign
or SignAndEncrypt), a listed user, and writes by engineers only.

A monitored item whose notification fails (asyncua cannot apply an odd filter to a value, say a
deadband to an array) is dropped with a warning; it never stops the scan or the other clients.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from asyncua import Server, ua
from asyncua.server.address_space import AddressSpace, AttributeService
from asyncua.server.user_managers import User, UserRole

from virtual_plc.codec import ElementLayout
from virtual_plc.image import ProcessImage, Refusal, WriteRefused
from virtual_plc.security import OpcUaSecurity, PlcUserManager
from virtual_plc.tagmap import Tag

log = logging.getLogger(__name__)

_REFUSAL_STATUS = {
    Refusal.OUT_OF_RANGE: ua.StatusCodes.BadOutOfRange,
    Refusal.READ_ONLY: ua.StatusCodes.BadNotWritable,
    Refusal.NOT_A_NUMBER: ua.StatusCodes.BadOutOfRange,  # NaN or infinite: a Double, but outside any range
    Refusal.UNKNOWN: ua.StatusCodes.BadNodeIdUnknown,
    Refusal.PARTIAL: ua.StatusCodes.BadIndexRangeInvalid,
}

# A guard returns a StatusCode to refuse a write, or None to let asyncua carry it out.
WriteGuard = Callable[[ua.WriteValue, User], "ua.StatusCode | None"]


class _GuardedAttributeService(AttributeService):
    """asyncua's attribute service with a guard that may refuse a client's write.

    Only the server's own session is an administrator (:class:`~virtual_plc.security.PlcUserManager`
    never makes a client one), so its writes, building the address space, pass unguarded.
    """

    def __init__(self, aspace: AddressSpace, guard: WriteGuard) -> None:
        super().__init__(aspace)
        self._guard = guard

    async def write(self, params: ua.WriteParameters, user: User = User(role=UserRole.Admin)) -> list[ua.StatusCode]:
        """Refuse guarded writes, pass the others to asyncua one by one."""
        if user.role == UserRole.Admin:
            return await super().write(params, user=user)
        results: list[ua.StatusCode] = []
        for item in params.NodesToWrite:
            refusal = self._guard(item, user)
            if refusal is not None:
                results.append(refusal)
                continue
            single = ua.WriteParameters(NodesToWrite=[item])
            results.extend(await super().write(single, user=user))
        return results


class OpcUaPlcServer:
    """Serve a process image over OPC UA at ``opc.tcp://host:port``.

    ``security``: the secured endpoint's certificate and users (None: an open server);
    ``anonymous_writes``: let sessions on an open server write setpoints (a lab simulator only).
    """

    def __init__(self, image: ProcessImage, *, host: str = "127.0.0.1", port: int = 4840,
                 security: OpcUaSecurity | None = None, anonymous_writes: bool = False) -> None:
        self.image = image
        self.host = host
        self.port = port
        self.security = security
        self.users = PlcUserManager(security, anonymous_writes=anonymous_writes)
        self.server = Server(user_manager=self.users)
        self._nodes: dict[str, ua.NodeId] = {}
        self._by_node: dict[ua.NodeId, Tag] = {}
        self._current = image.load(image.layout)  # element values served on read
        self._positions: dict[ElementLayout, np.ndarray] = {}

    @property
    def url(self) -> str:
        """The endpoint URL clients connect to."""
        return f"opc.tcp://{self.host}:{self.port}"

    async def start(self) -> None:
        """Build the address space and start listening."""
        tagmap = self.image.tagmap
        await self.server.init()
        self.server.set_endpoint(self.url)
        self.server.set_server_name(f"Quality Twin virtual PLC ({tagmap.plant})")
        if self.security is None:
            self.server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        else:
            self.server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
                                             ua.SecurityPolicyType.Basic256Sha256_Sign])
            self.server.set_identity_tokens([ua.UserNameIdentityToken])
            await self.server.load_certificate(self.security.certificate)
            await self.server.load_private_key(self.security.private_key)
        ns = await self.server.register_namespace(tagmap.opcua_namespace)
        if ns != 2:
            raise RuntimeError(f"namespace {tagmap.opcua_namespace} got index {ns}, the tag map assumes 2")
        iserver = self.server.iserver
        iserver.attribute_service = _GuardedAttributeService(iserver.aspace, self._guard)
        await self._build_address_space()
        await self.server.start()

    async def stop(self) -> None:
        """Stop listening and close every session."""
        await self.server.stop()

    async def publish(self, layout: ElementLayout, values: np.ndarray) -> None:
        """Refresh the element ``values`` of the tags in ``layout``; notify subscribers, if any."""
        positions = self._positions.get(layout)
        if positions is None:
            full = self.image.layout.slices
            positions = np.concatenate([np.arange(full[t.name].start, full[t.name].stop) for t in layout.tags])
            self._positions[layout] = positions
        self._current[positions] = values
        if self.server.iserver.subscription_service.subscriptions:
            await self._notify(layout)

    async def _notify(self, layout: ElementLayout) -> None:
        """Data-change notifications for the refreshed nodes that clients monitor.

        A notification that fails drops its monitored item with a warning: one client's odd item
        (a filter asyncua cannot apply to this value) must not stop the scan or the other clients.
        """
        aspace = self.server.iserver.aspace
        for tag in layout.tags:
            if tag.access == "rw":
                continue
            node = aspace.get(self._nodes[tag.name])
            attval = node.attributes.get(ua.AttributeIds.Value) if node is not None else None
            if attval is None or not attval.datachange_callbacks:
                continue
            datavalue = self._read(tag)
            for handle, callback in list(attval.datachange_callbacks.items()):
                try:
                    await callback(handle, datavalue)
                except Exception as err:  # noqa: BLE001 - whatever a client's item trips over stays with it
                    log.warning("OPC UA monitored item on %s dropped: its notification failed (%s: %s)",
                                tag.name, type(err).__name__, err)
                    aspace.delete_datachange_callback(handle)

    def _read(self, tag: Tag) -> ua.DataValue:
        """The current DataValue of a read-only tag."""
        return _data_value(tag, self._current[self.image.layout.slices[tag.name]])

    # ---------------------------------------------------------------- internals
    async def _build_address_space(self) -> None:
        folders: dict[str, object] = {"": self.server.nodes.objects}
        all_values = self.image.load(self.image.layout)
        for tag in self.image.tagmap.tags:
            parent = await self._folder(folders, tag.asset)
            nodeid = ua.NodeId.from_string(tag.opcua_node or f"ns=2;s={tag.name}")
            initial = all_values[self.image.layout.slices[tag.name]]
            value = [float(v) for v in initial] if tag.length is not None else float(initial[0])
            var = await parent.add_variable(  # type: ignore[attr-defined]
                nodeid, ua.QualifiedName(tag.name.rsplit(".", 1)[1], 2), value, varianttype=ua.VariantType.Double
            )
            if tag.length is not None:
                await var.write_value_rank(1)
                await var.write_array_dimensions([tag.length])
            if tag.access == "rw":
                await var.set_writable()
                if not self.users.secured and not self.users.anonymous_writes:  # nobody may: say so
                    await var.unset_attr_bit(ua.AttributeIds.UserAccessLevel, ua.AccessLevel.CurrentWrite)
                self._read_through(nodeid, tag)
            else:
                self.server.set_attribute_value_callback(nodeid, lambda _n, _a, tag=tag: self._read(tag))
            self._nodes[tag.name] = nodeid
            self._by_node[nodeid] = tag

    def _read_through(self, nodeid: ua.NodeId, tag: Tag) -> None:
        """A setpoint node reads the image, so a write over Modbus shows here at once.

        The no-op setter keeps asyncua from replacing the read callback with the written
        value; the guard has already put the value into the image.
        """

        def read(_nodeid: ua.NodeId, _attr: ua.AttributeIds) -> ua.DataValue:
            return ua.DataValue(ua.Variant(float(self.image.value(tag.name)), ua.VariantType.Double))

        self.server.set_attribute_value_callback(nodeid, read)
        self.server.set_attribute_value_setter(nodeid, lambda _node, _attr, _value: None)

    async def _folder(self, folders: dict[str, object], path: str) -> object:
        if path in folders:
            return folders[path]
        parent_path, _, leaf = path.rpartition(".")
        parent = await self._folder(folders, parent_path)
        node = await parent.add_object(ua.NodeId(f"{path}", 2), ua.QualifiedName(leaf, 2))  # type: ignore[attr-defined]
        folders[path] = node
        return node

    def _guard(self, item: ua.WriteValue, user: User) -> ua.StatusCode | None:
        """Refuse a client's write (the status says why), or None once the image took the value."""
        target = self._write_target(item, user)
        if isinstance(target, Tag):
            try:
                self.image.write_setpoint(target.name, item.Value.Value.Value)  # type: ignore[union-attr]
                return None  # applied to the image, which the node reads through
            except WriteRefused as err:
                target = _REFUSAL_STATUS[err.reason]
        status = ua.StatusCode(target)
        log.info("OPC UA write to %s refused: %s", item.NodeId, status.name)
        return status

    def _write_target(self, item: ua.WriteValue, user: User) -> Tag | int:
        """The tag ``item`` may write, or the status code refusing it before its value is range-checked."""
        node = self.server.iserver.aspace.get(item.NodeId)
        if node is None:
            return ua.StatusCodes.BadNodeIdUnknown
        if item.AttributeId not in node.attributes:
            return ua.StatusCodes.BadAttributeIdInvalid
        tag = self._by_node.get(item.NodeId)
        if tag is None or tag.access != "rw" or item.AttributeId != ua.AttributeIds.Value:
            return ua.StatusCodes.BadNotWritable  # the address space is not for clients to change
        if not self.users.may_write(user):
            return ua.StatusCodes.BadUserAccessDenied
        if item.IndexRange:
            return ua.StatusCodes.BadIndexRangeInvalid  # a setpoint is one scalar
        datavalue = item.Value
        if datavalue is None:
            return ua.StatusCodes.BadTypeMismatch
        if datavalue.StatusCode is not None and not datavalue.StatusCode.is_good():
            return ua.StatusCodes.BadWriteNotSupported  # a setpoint is a value, not a status
        if not _is_scalar_double(datavalue.Value):
            return ua.StatusCodes.BadTypeMismatch
        return tag


def _is_scalar_double(variant: ua.Variant | None) -> bool:
    """True for the one variant a setpoint node takes: a scalar Double (Part 4: same type, no conversion)."""
    return (variant is not None and variant.VariantType == ua.VariantType.Double and not variant.is_array
            and isinstance(variant.Value, float))


def _data_value(tag: Tag, values: np.ndarray) -> ua.DataValue:
    """A DataValue for one tag; NaN anywhere marks the value BadSensorFailure."""
    if np.isnan(values).any():
        return ua.DataValue(StatusCode=ua.StatusCode(ua.StatusCodes.BadSensorFailure))
    if tag.length is None:
        return ua.DataValue(ua.Variant(float(values[0]), ua.VariantType.Double))
    return ua.DataValue(ua.Variant([float(v) for v in values], ua.VariantType.Double))
