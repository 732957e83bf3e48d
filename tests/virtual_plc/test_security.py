"""Who may do what on the virtual PLC's OPC UA server, over real sockets on 127.0.0.1.

Open (no security file): anyone may read and subscribe, nobody may write a setpoint unless the server
was started with ``anonymous_writes=True``, nobody may change the address space, whatever name they
log in with. Secured: Basic256Sha256 only, listed users only, operators read, engineers also write;
the edge's own driver logs in from a credentials file.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from asyncua import Client, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

from qtconfig import ConfigError
from virtual_plc.certs import create_certificate
from virtual_plc.drivers import OpcUaDriver, PlcWriteRefused
from virtual_plc.endpoints import Endpoint
from virtual_plc.image import ProcessImage
from virtual_plc.opcua_server import OpcUaPlcServer
from virtual_plc.plc import LOOPBACK, free_port
from virtual_plc.security import load_security
from virtual_plc.tagmap import Tag, TagMap

TAGMAP = TagMap(plant="p", opcua_namespace="urn:p", clock_tag="p.plc.clock", tags=[
    Tag(name="p.plc.clock", dtype="uint64", low=0, high=1e12, period_ms=10),
    Tag(name="p.oven.temp", low=0, high=300, period_ms=10),
    Tag(name="p.oven.setpoint", access="rw", low=0, high=300, period_ms=10),
]).allocated()
SETPOINT = "ns=2;s=p.oven.setpoint"
PASSWORDS = {"op1": "op-pw-1", "eng1": "eng-pw-1"}


@asynccontextmanager
async def served(security_file: Path | None = None, *, anonymous_writes: bool = False
                 ) -> AsyncIterator[OpcUaPlcServer]:
    image = ProcessImage(TAGMAP)
    image.write_setpoint("p.oven.setpoint", 100.0)
    server = OpcUaPlcServer(image, host=LOOPBACK, port=free_port(),
                            security=load_security(security_file) if security_file else None,
                            anonymous_writes=anonymous_writes)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pki")
    server_cert, server_key = create_certificate(folder / "server", "urn:quality-twin:plc", server=True)
    client_cert, client_key = create_certificate(folder / "client", "urn:quality-twin:edge")
    (folder / "eng1.password").write_text(PASSWORDS["eng1"] + "\n")
    security = folder / "security.yaml"
    security.write_text(
        "certificate: server/certificate.der\nprivate_key: server/private_key.pem\nusers:\n"
        "  - {name: op1, role: operator, password_env: TEST_PLC_OP1}\n"
        "  - {name: eng1, role: engineer, password_file: eng1.password}\n")
    return {"security": security, "server_cert": server_cert, "client_cert": client_cert, "client_key": client_key,
            "folder": folder}


async def secure_client(url: str, pki: dict[str, Path], user: str, password: str,
                        mode: ua.MessageSecurityMode = ua.MessageSecurityMode.SignAndEncrypt) -> Client:
    client = Client(url, timeout=5)
    client.application_uri = "urn:quality-twin:edge"
    client.set_user(user)
    client.set_password(password)
    await client.set_security(SecurityPolicyBasic256Sha256, certificate=str(pki["client_cert"]),
                              private_key=str(pki["client_key"]), server_certificate=str(pki["server_cert"]),
                              mode=mode)
    return client


def test_no_client_may_change_the_address_space_whatever_name_it_logs_in_with() -> None:
    async def main() -> tuple[str, list[str], float]:
        async with served() as server:
            client = Client(server.url, timeout=5)
            client.set_user("admin")
            client.set_password("anything")
            async with client:
                with pytest.raises(ua.UaStatusCodeError) as refused:
                    await client.delete_nodes([client.get_node(SETPOINT)], recursive=False)
                deleted = type(refused.value).__name__
                node = client.get_node(SETPOINT)  # still there
                written = await client.uaclient.write_attributes([node.nodeid], [good(120.0)])
                return deleted, [s.name for s in written], await node.read_value()

    deleted, written, value = asyncio.run(main())
    assert deleted == "BadUserAccessDenied"
    assert written == ["BadUserAccessDenied"] and value == 100.0  # a name on an open server counts for nothing


@pytest.mark.slow
def test_an_open_server_takes_anonymous_writes_only_when_started_so() -> None:
    async def main(anonymous_writes: bool) -> tuple[list[str], float]:
        async with served(anonymous_writes=anonymous_writes) as server, Client(server.url, timeout=5) as client:
            node = client.get_node(SETPOINT)
            bad = ua.DataValue(ua.Variant(130.0, ua.VariantType.Double),
                               StatusCode=ua.StatusCode(ua.StatusCodes.BadSensorFailure))
            statuses = await client.uaclient.write_attributes([node.nodeid] * 2, [good(120.0), bad])
            assert await client.get_node("ns=2;s=p.oven.temp").read_value() == 0.0  # reading is for anyone
            return [s.name for s in statuses], server.image.value("p.oven.setpoint")

    assert asyncio.run(main(False)) == (["BadUserAccessDenied", "BadUserAccessDenied"], 100.0)
    # a value that carries a Bad status is not a setpoint
    assert asyncio.run(main(True)) == (["Good", "BadWriteNotSupported"], 120.0)


def good(value: float) -> ua.DataValue:
    return ua.DataValue(ua.Variant(value, ua.VariantType.Double))


@pytest.mark.slow
def test_secured_server_offers_only_basic256sha256_and_lets_only_engineers_write(
        pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_PLC_OP1", PASSWORDS["op1"])

    async def main() -> dict[str, object]:
        seen: dict[str, object] = {}
        async with served(pki["security"]) as server:
            with pytest.raises(Exception) as anonymous:
                async with Client(server.url, timeout=5):
                    pass
            seen["anonymous"] = str(anonymous.value) or type(anonymous.value).__name__
            with pytest.raises(Exception) as wrong:
                async with await secure_client(server.url, pki, "eng1", "not-the-password"):
                    pass
            seen["wrong"] = str(wrong.value)
            async with await secure_client(server.url, pki, "op1", PASSWORDS["op1"]) as operator:
                node = operator.get_node(SETPOINT)
                seen["operator_reads"] = await node.read_value()
                (status,) = await operator.uaclient.write_attributes(
                    [node.nodeid], [ua.DataValue(ua.Variant(150.0, ua.VariantType.Double))])
                seen["operator_write"] = status.name
            seen["after_operator"] = server.image.value("p.oven.setpoint")
            async with await secure_client(server.url, pki, "eng1", PASSWORDS["eng1"],
                                           mode=ua.MessageSecurityMode.Sign) as engineer:
                await engineer.get_node(SETPOINT).write_value(ua.DataValue(ua.Variant(150.0, ua.VariantType.Double)))
            seen["after_engineer"] = server.image.value("p.oven.setpoint")
        return seen

    seen = asyncio.run(main())
    assert seen["operator_reads"] == 100.0
    assert seen["operator_write"] == "BadUserAccessDenied" and seen["after_operator"] == 100.0
    assert seen["after_engineer"] == 150.0
    assert "BadUserAccessDenied" in str(seen["wrong"]) or "BadIdentityToken" in str(seen["wrong"])


@pytest.mark.slow
def test_the_edge_driver_logs_in_from_a_credentials_file_and_an_operator_write_is_refused(
        pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_PLC_OP1", PASSWORDS["op1"])
    folder = pki["folder"]
    (folder / "engineer.yaml").write_text(f"username: eng1\npassword: {PASSWORDS['eng1']}\n")
    (folder / "operator.yaml").write_text(f"username: op1\npassword: {PASSWORDS['op1']}\n")
    tag = TAGMAP["p.oven.setpoint"]

    async def main() -> tuple[float, str]:
        async with served(pki["security"]) as server:
            def driver(credentials: str) -> OpcUaDriver:
                endpoint = Endpoint(name="plc", protocol="opcua", port=server.port, security="Basic256Sha256",
                                    certificate=str(pki["client_cert"]), private_key=str(folder / "client" /
                                                                                         "private_key.pem"),
                                    server_certificate=str(pki["server_cert"]),
                                    credentials_file=str(folder / credentials))
                return OpcUaDriver(endpoint, TAGMAP)

            engineer, operator = driver("engineer.yaml"), driver("operator.yaml")
            try:
                read_back = await engineer.write(tag, 175.0)
                with pytest.raises(PlcWriteRefused) as refused:
                    await operator.write(tag, 20.0)
            finally:
                await engineer.close()
                await operator.close()
            return read_back, refused.value.code

    read_back, code = asyncio.run(main())
    assert read_back == 175.0 and code == "BadUserAccessDenied"


def test_anonymous_writes_and_a_security_file_exclude_each_other(pki: dict[str, Path],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_PLC_OP1", PASSWORDS["op1"])
    with pytest.raises(ValueError, match="anonymous_writes needs an open server"):
        OpcUaPlcServer(ProcessImage(TAGMAP), security=load_security(pki["security"]), anonymous_writes=True)


def test_a_security_file_without_its_password_names_what_is_missing(pki: dict[str, Path],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_PLC_OP1", raising=False)
    with pytest.raises(ConfigError, match="TEST_PLC_OP1 is not set"):
        OpcUaPlcServer(ProcessImage(TAGMAP), security=load_security(pki["security"]))
    bad = pki["folder"] / "bad.yaml"
    bad.write_text("certificate: c\nprivate_key: k\nusers:\n  - {name: x, role: admin, password_env: X}\n")
    with pytest.raises(ConfigError, match=r"role.*line 4"):
        load_security(bad)
