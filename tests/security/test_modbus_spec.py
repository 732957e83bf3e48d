"""The virtual PLC's Modbus TCP server answers as the Modbus specification says, over raw sockets.

Exact response bytes for malformed and unserved requests (Modbus Application Protocol v1.1b3,
section 7: the request's function code + 0x80, then the exception code), pipelined requests
answered in order, an ADU over 260 bytes closing the connection with a warning, an unknown unit
answered 0x0B without a traceback (and understood so by libmodbus's mbpoll), and a seeded fuzz after
which a stock pymodbus client still reads.
"""

from __future__ import annotations

import logging
import random
import shutil
import socket
import struct
import subprocess
from collections.abc import Iterator

import pytest
from pymodbus.client import ModbusTcpClient

from tests.support import ServedPlc
from virtual_plc.tagmap import Tag, TagMap

UNIT = 1
SETPOINT = 50.0  # float32 big-endian 0x4248 0x0000 at holding register 0
TAGMAP = TagMap(plant="m", opcua_namespace="urn:m", clock_tag="m.plc.clock", tags=[
    Tag(name="m.plc.clock", dtype="uint64", low=0, high=2**53, period_ms=10, table="input"),
    Tag(name="m.oven.temp", low=0, high=300, period_ms=10, table="input"),
    Tag(name="m.oven.setpoint", access="rw", low=0, high=300, period_ms=10, table="holding"),
]).allocated()
SERVED = {1, 2, 3, 4, 5, 6, 15, 16, 22, 23}  # the function codes the module docstring promises
READ_SETPOINT = b"\x03\x00\x00\x00\x02"  # read holding registers 0..1
SETPOINT_READ = b"\x03\x04\x42\x48\x00\x00"  # its answer: 4 bytes, 50.0 as a big-endian float32
SOCKET_TIMEOUT_S = 10.0  # guards: one answer on loopback, however busy the machine


@pytest.fixture(scope="module")
def plc() -> Iterator[ServedPlc]:
    served = ServedPlc(TAGMAP, {"m.oven.setpoint": SETPOINT})
    assert TAGMAP["m.oven.setpoint"].address == 0 and TAGMAP.unit_id == UNIT
    yield served
    served.close()


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fails the test if the server logged a traceback (client input never earns one)."""
    for name in ("virtual_plc", "pymodbus"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield
    bad = [r.getMessage() for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not bad, bad


def adu(tid: int, unit: int, pdu: bytes) -> bytes:
    """A Modbus TCP frame: MBAP header (transaction, protocol 0, length, unit), then the PDU."""
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


def connect(plc: ServedPlc) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", plc.modbus_port), timeout=SOCKET_TIMEOUT_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def receive(sock: socket.socket) -> bytes:
    """One whole response ADU, or b"" when the server closed the connection."""
    head = _exactly(sock, 6)
    if len(head) < 6:
        return b""
    return head + _exactly(sock, struct.unpack(">H", head[4:6])[0])


def _exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def ask(plc: ServedPlc, data: bytes, answers: int = 1) -> list[bytes]:
    """Send ``data`` in one segment on a new connection; the ``answers`` responses that come back."""
    with connect(plc) as sock:
        sock.sendall(data)
        return [receive(sock) for _ in range(answers)]


def exception(tid: int, function: int, code: int, unit: int = UNIT) -> bytes:
    return adu(tid, unit, bytes([function | 0x80, code]))


@pytest.mark.parametrize(("pdu", "answer"), [
    pytest.param(b"\x03\x00\x00\x00\x00", b"\x83\x03", id="read holding, quantity 0"),
    pytest.param(b"\x04\x00\x00\x00\x7e", b"\x84\x03", id="read input, quantity 126"),
    pytest.param(b"\x01\x00\x00\x07\xd1", b"\x81\x03", id="read coils, quantity 2001"),
    pytest.param(b"\x03\x00\x00", b"\x83\x03", id="read holding, data cut short"),
    pytest.param(b"\x03\x00\x00\x00\x01\x00", b"\x83\x03", id="read holding, a byte too many"),
    pytest.param(b"\x03", b"\x83\x03", id="a function code alone"),
    pytest.param(b"\x05\x00\x00\x12\x34", b"\x85\x03", id="write coil, neither ON nor OFF"),
    pytest.param(b"\x0f\x00\x00\x00\x09\x01\xff", b"\x8f\x03", id="write coils, byte count for 8 of 9"),
    pytest.param(b"\x10\x00\x00\x00\x01\x03\x00\x00", b"\x90\x03", id="write registers, byte count 3 for 1"),
    pytest.param(b"\x10\x00\x00\x00\x02\x04\x00\x00", b"\x90\x03", id="write registers, 2 of 4 bytes sent"),
    pytest.param(b"\x10\x00\x00\x00\x00\x00", b"\x90\x03", id="write registers, quantity 0"),
    pytest.param(b"\x17\x00\x00\x00\x01\x00\x00\x00\x01\x04\x00\x00", b"\x97\x03",
                 id="read/write registers, byte count 4 for 1"),
    pytest.param(b"\x63\x00\x00", b"\xe3\x01", id="function 0x63 (none)"),
    pytest.param(b"\x08\x00\x00\x12\x34", b"\x88\x01", id="diagnostics (not served)"),
    pytest.param(b"\x2b\x0e\x01\x00", b"\xab\x01", id="read device identification (not served)"),
    pytest.param(b"\x00", b"\x80\x01", id="function 0"),
    pytest.param(b"\x83\x00\x00\x00\x01", b"\x83\x01", id="an exception code as a request"),
    pytest.param(b"\x03\xff\xf0\x00\x10", b"\x83\x02", id="read holding past the table"),
    pytest.param(b"\x06\x00\x00\x42\x48", b"\x86\x02", id="write half of a float32"),
    pytest.param(b"\x10\x00\x00\x00\x02\x04\x47\xc3\x50\x00", b"\x90\x03", id="write 100000 (out of range)"),
])
def test_a_bad_request_gets_its_function_code_plus_0x80_and_the_spec_exception(
        plc: ServedPlc, no_tracebacks: None, pdu: bytes, answer: bytes) -> None:
    assert ask(plc, adu(0x1234, UNIT, pdu)) == [adu(0x1234, UNIT, answer)]
    assert plc.plc.image.value("m.oven.setpoint") == SETPOINT


def test_three_pipelined_requests_in_one_segment_get_three_answers_in_order(plc: ServedPlc) -> None:
    requests = adu(1, UNIT, READ_SETPOINT) + adu(2, UNIT, b"\x63") + adu(3, UNIT, READ_SETPOINT)
    assert ask(plc, requests, 3) == [adu(1, UNIT, SETPOINT_READ), exception(2, 0x63, 1), adu(3, UNIT, SETPOINT_READ)]


@pytest.mark.parametrize("count", [60, 400])  # over 516 bytes; over the 4160 the server reads before it pauses
def test_many_pipelined_requests_are_all_answered_in_order(plc: ServedPlc, count: int) -> None:
    requests = b"".join(adu(tid, UNIT, READ_SETPOINT) for tid in range(100, 100 + count))
    assert len(requests) > 516  # what the stock pymodbus server dropped without a word
    answers = ask(plc, requests, count)
    assert [a[:2] for a in answers] == [struct.pack(">H", tid) for tid in range(100, 100 + count)]
    assert {a[6:] for a in answers} == {bytes([UNIT]) + SETPOINT_READ}


def test_a_request_split_across_segments_is_answered_once_whole(plc: ServedPlc) -> None:
    request = adu(7, UNIT, READ_SETPOINT)
    with connect(plc) as sock:
        for k in range(len(request)):
            sock.sendall(request[k : k + 1])
        assert receive(sock) == adu(7, UNIT, SETPOINT_READ)


def test_an_adu_over_260_bytes_closes_the_connection_with_a_warning(plc: ServedPlc,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="virtual_plc.modbus_server")
    oversize = struct.pack(">HHHB", 9, 0, 601, UNIT) + b"\x03" + bytes(599)
    first = adu(8, UNIT, READ_SETPOINT)
    assert ask(plc, first + oversize, 2) == [adu(8, UNIT, SETPOINT_READ), b""]  # answered, then closed
    assert any("malformed Modbus frame" in r.getMessage() and "length 601" in r.getMessage() for r in caplog.records)
    assert ask(plc, adu(10, UNIT, READ_SETPOINT)) == [adu(10, UNIT, SETPOINT_READ)]


def test_an_unknown_unit_is_answered_as_a_gateway_would_without_a_traceback(plc: ServedPlc,
                                                                             no_tracebacks: None) -> None:
    """0x0B GATEWAY TARGET DEVICE FAILED TO RESPOND, at once; 0xFF addresses this server directly."""
    assert ask(plc, adu(11, 9, READ_SETPOINT)) == [exception(11, 0x03, 0x0B, unit=9)]
    assert ask(plc, adu(12, 0, b"\x04\x00\x00\x00\x01")) == [exception(12, 0x04, 0x0B, unit=0)]
    assert ask(plc, adu(13, 0xFF, READ_SETPOINT)) == [adu(13, 0xFF, SETPOINT_READ)]


def test_mbpoll_reads_at_unit_0xff_and_names_the_0x0b_answer_for_another_unit(plc: ServedPlc) -> None:
    """libmodbus (mbpoll) understands both answers: the read at 0xFF, and 0x0B as its own error."""
    mbpoll = shutil.which("mbpoll")
    assert mbpoll, "mbpoll is installed by .ci/run (Debian package mbpoll)"

    def poll(unit: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run([mbpoll, "-m", "tcp", "-p", str(plc.modbus_port), "-a", str(unit), "-0", "-r", "0",
                               "-t", "4:float", "-B", "-1", "127.0.0.1"], capture_output=True, text=True, timeout=30)

    direct, elsewhere = poll(0xFF), poll(9)
    assert direct.returncode == 0 and "[0]: \t50" in direct.stdout, direct.stdout + direct.stderr
    assert elsewhere.returncode != 0 and "Target device failed to respond" in elsewhere.stdout + elsewhere.stderr


def _random_pdu(rng: random.Random) -> bytes:
    """Mostly a served function code with a plausible address and quantity, sometimes anything at all."""
    if rng.random() < 0.3:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12)))
    function = rng.choice(sorted(SERVED))
    body = struct.pack(">HH", rng.choice([0, 0, 1, 2, 3, 0xFFFF, rng.randrange(65536)]),
                       rng.choice([1, 1, 2, 2, 0, 125, 126, 2000, 2001, rng.randrange(65536)]))
    if function in (15, 16, 23):
        body += bytes([rng.randrange(256)]) + bytes(rng.randrange(256) for _ in range(rng.randrange(8)))
    return bytes([function]) + body[: rng.choice([len(body), rng.randrange(len(body) + 1)])]


def _check_answer(request: bytes, answer: bytes) -> None:
    """The invariants every answer keeps: transaction and unit echoed, and a spec-shaped function code."""
    tid, unit, function = request[:2], request[6], request[7]
    assert answer[:4] == tid + b"\x00\x00" and answer[6] == unit, (request.hex(), answer.hex())
    if unit not in (UNIT, 0xFF):
        assert answer[7:] == bytes([function | 0x80, 0x0B]), (request.hex(), answer.hex())
    elif function not in SERVED:
        assert answer[7:] == bytes([function | 0x80, 0x01]), (request.hex(), answer.hex())
    elif answer[7] != function:
        assert answer[7] == function | 0x80 and answer[8] in (2, 3) and len(answer) == 9, (request.hex(),
                                                                                           answer.hex())


@pytest.mark.parametrize("seed", [18, 263])
def test_a_seeded_fuzz_leaves_the_server_answering_a_stock_client(plc: ServedPlc, no_tracebacks: None,
                                                                   seed: int) -> None:
    rng = random.Random(seed)
    sock = connect(plc)
    try:
        for case in range(150):
            if rng.random() < 0.05:  # a broken MBAP header: the server closes this connection
                sock.sendall(struct.pack(">HHH", case, rng.randrange(1, 65536), rng.randrange(65536)) + b"\x01\x03")
                assert receive(sock) == b""
                sock.close()
                sock = connect(plc)
                continue
            frames = [adu(case * 4 + k, rng.choice([UNIT] * 6 + [0xFF, 0, rng.randrange(256)]), _random_pdu(rng))
                      for k in range(rng.randrange(1, 4))]
            sock.sendall(b"".join(frames))
            for frame in frames:
                _check_answer(frame, receive(sock))
    finally:
        sock.close()
    with ModbusTcpClient("127.0.0.1", port=plc.modbus_port, timeout=SOCKET_TIMEOUT_S) as client:
        response = client.read_holding_registers(0, count=2, device_id=UNIT)
    assert not response.isError()
    assert struct.unpack(">f", struct.pack(">HH", *response.registers))[0] == plc.plc.image.value("m.oven.setpoint")
    plc.plc.initialise_setpoints({"m.oven.setpoint": SETPOINT})  # the fuzz may have written it
