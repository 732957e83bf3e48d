"""The store-and-forward buffer's counts and order, over buffer sizes and outage lengths (hypothesis), driven
the way the edge node drives it: live while connected and drained, buffered during an outage and while
replaying, unacknowledged messages taken back at a reconnect."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from twin.edge.sparkplug.forward import StoreAndForward

# one step of a run: a frame of n samples (1-5), a broker outage starting or ending, or the broker acking
STEP = st.one_of(st.integers(1, 5), st.sampled_from(["down", "up", "ack"]))


class Run:
    """A node's use of the buffer, with messages numbered in the order they were collected."""

    def __init__(self, forward: StoreAndForward, batch: int) -> None:
        self.forward, self.batch = forward, batch
        self.connected = True
        self.next_id = 0
        self.in_flight: list[tuple[int, int, bool]] = []  # (id, samples, a replay) the broker has not acked
        self.delivered: list[int] = []  # ids the broker acked, in publish order

    def frame(self, samples: int) -> None:
        message, self.next_id = self.next_id, self.next_id + 1
        if self.connected and not self.forward.pending:
            self.forward.live(samples)
            self.in_flight.append((message, samples, False))
        else:
            self.forward.store("plc1", message.to_bytes(4, "big"), samples)
        self.replay()

    def replay(self) -> None:
        if not self.connected:
            return
        for stored in self.forward.take(self.batch):
            self.forward.sent(stored)
            self.in_flight.append((int.from_bytes(stored.payload, "big"), stored.samples, True))

    def step(self, what: int | str) -> None:
        if isinstance(what, int):
            self.frame(what)
        elif what == "ack":
            self.delivered += [m for m, _, _ in self.in_flight]
            self.in_flight = []
        elif what == "down":
            self.connected = False
        elif not self.connected:  # up: the reconnect takes back what the broker never acked
            self.forward.reclaim([("plc1", m.to_bytes(4, "big"), n, replay) for m, n, replay in self.in_flight])
            self.in_flight = []
            self.connected = True
            self.replay()


@given(max_samples=st.integers(0, 40), batch=st.integers(1, 4), steps=st.lists(STEP, max_size=60))
def test_collected_is_published_plus_dropped_plus_pending_and_order_holds(max_samples, batch, steps):
    run = Run(StoreAndForward(None, max_samples), batch)
    for what in steps:
        run.step(what)
        counts = run.forward.counts
        assert counts.invariant_holds(run.forward.pending) and run.forward.pending <= max_samples
        assert counts.replayed <= counts.buffered and counts.published >= 0
    run.step("up")  # end of the run: reconnected, the buffer drained, everything acked
    while run.forward.pending:
        run.replay()
    run.step("ack")
    counts = run.forward.counts
    assert counts.collected == counts.published + counts.dropped
    assert run.delivered == sorted(run.delivered) and len(set(run.delivered)) == len(run.delivered)
    if counts.dropped == 0:  # never full: nothing lost
        assert run.delivered == list(range(run.next_id))


def test_a_buffer_file_survives_the_edge_and_is_replayed_by_the_next_run(tmp_path):
    first = StoreAndForward(tmp_path / "buffer.sqlite", max_samples=100)
    first.store("plc1", b"one", 3)
    first.store("plc2", b"two", 4)
    first.close()
    again = StoreAndForward(tmp_path / "buffer.sqlite", max_samples=5)  # smaller now: the oldest goes
    assert [(m.device, m.payload) for m in again.take(10)] == [("plc2", b"two")]
    assert (again.counts.collected, again.counts.dropped, again.pending) == (7, 3, 4)
    again.close()
