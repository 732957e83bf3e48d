"""Sanity of the node-opcua interop server (tests/node_opcua.py) as seen by asyncua, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import math
import ssl
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from asyncua import Client, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.node_opcua import (
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    LINE_NS,
    UTILITIES_NS,
    NodeOpcuaServer,
    node_opcua_fixture,
    node_opcua_server,
    port_accepts,
)

pytestmark = pytest.mark.slow  # three server processes, a few seconds each to start

T = TypeVar("T")
CALL_TIMEOUT_S = 30.0  # guards one whole client conversation with the server
CLIENT_TIMEOUT_S = 10.0  # asyncua's per-request timeout
LAST_CHANGE_INITIAL = datetime(2025, 1, 1, tzinfo=UTC)
CEFACT = "http://www.opcfoundation.org/UA/units/un/cefact"
ANALOG_ITEM_TYPE = ua.NodeId(ua.ObjectIds.AnalogItemType)
CLIENT_APP_URI = "urn:qt-interop:test-client"
LINE_VARIABLES = sorted(
    ["Recipe", "Running", "PartCount", "OvenTemperature", "Profile", "SpeedSetpoint", "Speed", "LastChange"]
)
UTILITIES_VARIABLES = ["CoolingWaterOn", "ShiftName", "SupplyPressure"]

plain_server = node_opcua_fixture()
secure_server = node_opcua_fixture(secure=True)


def run(coro: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT_S) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def seconds(ts: datetime) -> float:
    return ts.replace(tzinfo=UTC).timestamp() if ts.tzinfo is None else ts.timestamp()


async def namespaces(client: Client) -> tuple[int, int]:
    return await client.get_namespace_index(LINE_NS), await client.get_namespace_index(UTILITIES_NS)


async def read(client: Client, node_id: str) -> ua.DataValue:
    return await client.get_node(node_id).read_data_value()


class TestPlainServer:
    def test_namespaces_resolve_by_uri_and_the_folders_browse_from_objects(self, plain_server: NodeOpcuaServer):
        async def go() -> None:
            async with Client(plain_server.endpoint, timeout=CLIENT_TIMEOUT_S) as client:
                line, utilities = await namespaces(client)
                assert {line, utilities}.isdisjoint({0, 1}) and line != utilities
                names = {}
                for folder in await client.nodes.objects.get_children():
                    name = await folder.read_browse_name()
                    if name.NamespaceIndex in (line, utilities):
                        children = await folder.get_children()
                        names[name.Name] = sorted([(await child.read_browse_name()).Name for child in children])
                assert names == {"Line": LINE_VARIABLES, "Utilities": UTILITIES_VARIABLES}
                assert await client.get_node(f"ns={line};s=Line").read_browse_name() == ua.QualifiedName("Line", line)
                utilities_folder = client.get_node(f"ns={utilities};i=1000")
                assert await utilities_folder.read_browse_name() == ua.QualifiedName("Utilities", utilities)

        run(go())

    def test_every_variable_reads_with_its_type_and_documented_value(self, plain_server: NodeOpcuaServer):
        async def go() -> None:
            async with Client(plain_server.endpoint, timeout=CLIENT_TIMEOUT_S) as client:
                line, utilities = await namespaces(client)

                async def value(node_id: str, variant_type: ua.VariantType) -> tuple[Any, float]:
                    dv = await read(client, node_id)
                    assert dv.StatusCode is None or dv.StatusCode.is_good(), (node_id, dv.StatusCode)
                    assert dv.Value.VariantType == variant_type, (node_id, dv.Value.VariantType)
                    return dv.Value.Value, seconds(dv.SourceTimestamp)

                assert (await value(f"ns={line};s=Line.Recipe", ua.VariantType.String))[0] == "RECIPE-A"
                assert (await value(f"ns={line};s=Line.Running", ua.VariantType.Boolean))[0] is True
                count, _ = await value(f"ns={line};s=Line.PartCount", ua.VariantType.Int32)
                assert count >= 0
                oven, t = await value(f"ns={line};s=Line.OvenTemperature", ua.VariantType.Double)
                assert oven == pytest.approx(150 + 10 * math.sin(2 * math.pi * t / 60), abs=1e-6)
                profile, t = await value(f"ns={line};s=Line.Profile", ua.VariantType.Double)
                expected = [10 * k + math.sin(2 * math.pi * t / 30 + k * math.pi / 4) for k in range(8)]
                assert profile == pytest.approx(expected, abs=1e-6)
                profile_node = client.get_node(f"ns={line};s=Line.Profile")
                assert await profile_node.read_value_rank() == 1
                assert await profile_node.read_array_dimensions() == [8]
                setpoint, _ = await value(f"ns={line};s=Line.SpeedSetpoint", ua.VariantType.Double)
                assert setpoint == 50.0
                speed, t = await value(f"ns={line};s=Line.Speed", ua.VariantType.Double)
                assert speed == pytest.approx(setpoint + 0.5 * math.sin(2 * math.pi * t / 10), abs=1e-6)
                last_change, _ = await value(f"ns={line};s=Line.LastChange", ua.VariantType.DateTime)
                assert last_change.replace(tzinfo=UTC) == LAST_CHANGE_INITIAL
                pressure, t = await value(f"ns={utilities};i=1001", ua.VariantType.Double)
                assert pressure == pytest.approx(6 + 0.25 * math.sin(2 * math.pi * t / 20), abs=1e-6)
                assert (await value(f"ns={utilities};i=1002", ua.VariantType.Boolean))[0] is True
                assert (await value(f"ns={utilities};i=1003", ua.VariantType.String))[0] == "B"

        run(go())

    def test_the_analog_items_carry_eurange_and_engineering_units(self, plain_server: NodeOpcuaServer):
        async def go() -> None:
            async with Client(plain_server.endpoint, timeout=CLIENT_TIMEOUT_S) as client:
                line, _ = await namespaces(client)
                oven = client.get_node(f"ns={line};s=Line.OvenTemperature")
                assert await oven.read_type_definition() == ANALOG_ITEM_TYPE
                eu_range = await (await oven.get_child("0:EURange")).read_value()
                assert isinstance(eu_range, ua.Range) and (eu_range.Low, eu_range.High) == (0.0, 200.0)
                units = await (await oven.get_child("0:EngineeringUnits")).read_value()
                assert isinstance(units, ua.EUInformation)
                assert (units.NamespaceUri, units.UnitId) == (CEFACT, 4408652)
                assert (units.DisplayName.Text, units.Description.Text) == ("°C", "degree Celsius")
                setpoint = client.get_node(f"ns={line};s=Line.SpeedSetpoint")
                assert await setpoint.read_type_definition() == ANALOG_ITEM_TYPE
                sp_range = await (await setpoint.get_child("0:EURange")).read_value()
                assert (sp_range.Low, sp_range.High) == (0.0, 100.0)
                assert (await (await setpoint.get_child("0:EngineeringUnits")).read_value()).UnitId == 20529

        run(go())

    def test_the_setpoint_keeps_what_a_client_writes(self, plain_server: NodeOpcuaServer):
        async def go() -> None:
            async with Client(plain_server.endpoint, timeout=CLIENT_TIMEOUT_S) as client:
                line, _ = await namespaces(client)
                setpoint = client.get_node(f"ns={line};s=Line.SpeedSetpoint")
                await setpoint.write_value(ua.DataValue(ua.Variant(72.5, ua.VariantType.Double)))
                assert await setpoint.read_value() == 72.5
                last_change = await client.get_node(f"ns={line};s=Line.LastChange").read_value()
                assert last_change.replace(tzinfo=UTC) > LAST_CHANGE_INITIAL
                with pytest.raises(ua.uaerrors.BadOutOfRange):
                    await setpoint.write_value(ua.DataValue(ua.Variant(150.0, ua.VariantType.Double)))
                assert await setpoint.read_value() == 72.5
                speed = await read(client, f"ns={line};s=Line.Speed")
                t = seconds(speed.SourceTimestamp)
                assert speed.Value.Value == pytest.approx(72.5 + 0.5 * math.sin(2 * math.pi * t / 10), abs=1e-6)
                await setpoint.write_value(ua.DataValue(ua.Variant(50.0, ua.VariantType.Double)))

        run(go())


async def secure_client(server: NodeOpcuaServer, tmp_path: Path, password: str) -> Client:
    key, cert = tmp_path / "client_key.pem", tmp_path / "client_cert.der"
    await setup_self_signed_certificate(
        key_file=key,
        cert_file=cert,
        app_uri=CLIENT_APP_URI,  # must be the client's application_uri, set below
        host_name="127.0.0.1",
        cert_use=[ExtendedKeyUsageOID.CLIENT_AUTH],
        subject_attrs={"countryName": "DE", "organizationName": "Quality Twin", "commonName": "qt-interop-client"},
    )
    client = Client(server.endpoint, timeout=CLIENT_TIMEOUT_S)
    client.application_uri = CLIENT_APP_URI
    await client.set_security(
        SecurityPolicyBasic256Sha256,
        certificate=str(cert),
        private_key=str(key),
        server_certificate=str(server.server_certificate_der),
        mode=ua.MessageSecurityMode.SignAndEncrypt,
    )
    client.set_user(server.username)
    client.set_password(password)
    return client


class TestSecureServer:
    def test_only_basic256sha256_sign_and_encrypt_with_a_user_name_is_offered(self, secure_server: NodeOpcuaServer):
        async def go() -> None:
            client = Client(secure_server.endpoint, timeout=CLIENT_TIMEOUT_S)
            endpoints = await client.connect_and_get_server_endpoints()
            assert {(e.SecurityPolicyUri, e.SecurityMode) for e in endpoints} == {
                (SecurityPolicyBasic256Sha256.URI, ua.MessageSecurityMode.SignAndEncrypt)
            }
            for endpoint in endpoints:
                kinds = {token.TokenType for token in endpoint.UserIdentityTokens}
                assert ua.UserTokenType.UserName in kinds and ua.UserTokenType.Anonymous not in kinds

        run(go())

    def test_a_session_without_security_is_refused(self, secure_server: NodeOpcuaServer):
        async def go() -> None:
            client = Client(secure_server.endpoint, timeout=CLIENT_TIMEOUT_S)
            with pytest.raises(ua.uaerrors.BadSecurityModeRejected):
                await client.connect()
            await client.disconnect()

        run(go())

    def test_sign_and_encrypt_with_the_right_password_reads(self, secure_server: NodeOpcuaServer, tmp_path: Path):
        assert (secure_server.username, secure_server.password) == (DEFAULT_USERNAME, DEFAULT_PASSWORD)

        async def go() -> None:
            async with await secure_client(secure_server, tmp_path, secure_server.password) as client:
                line, _ = await namespaces(client)
                assert await client.get_node(f"ns={line};s=Line.Recipe").read_value() == "RECIPE-A"

        run(go())

    def test_a_wrong_password_is_refused(self, secure_server: NodeOpcuaServer, tmp_path: Path):
        async def go() -> None:
            client = await secure_client(secure_server, tmp_path, "not-" + secure_server.password)
            with pytest.raises(ua.uaerrors.BadUserAccessDenied):
                await client.connect()
            await client.disconnect()

        run(go())

    def test_the_pem_and_der_certificates_are_the_same(self, secure_server: NodeOpcuaServer):
        pem = secure_server.server_certificate.read_text()
        assert ssl.PEM_cert_to_DER_cert(pem.strip()) == secure_server.server_certificate_der.read_bytes()


def test_the_server_stops_and_starts_again_on_the_same_port(tmp_path: Path):
    async def read_recipe(endpoint: str) -> str:
        async with Client(endpoint, timeout=CLIENT_TIMEOUT_S) as client:
            line, _ = await namespaces(client)
            return await client.get_node(f"ns={line};s=Line.Recipe").read_value()

    async def connect_fails(endpoint: str) -> None:
        client = Client(endpoint, timeout=CLIENT_TIMEOUT_S)
        with pytest.raises((OSError, TimeoutError)):
            await client.connect()

    with node_opcua_server(tmp_path) as server:
        port, endpoint = server.port, server.endpoint
        certificate = server.server_certificate.read_bytes()
        assert run(read_recipe(endpoint)) == "RECIPE-A"
        with server.outage():
            assert not server.running and not port_accepts(port)
            run(connect_fails(endpoint))
        assert server.running and server.port == port
        assert run(read_recipe(endpoint)) == "RECIPE-A"
        server.restart(down_s=0.2)
        assert run(read_recipe(endpoint)) == "RECIPE-A"
        assert server.server_certificate.read_bytes() == certificate
    assert not server.running and not port_accepts(port)
