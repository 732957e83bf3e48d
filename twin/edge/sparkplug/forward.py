"""Store and forward: the data messages an edge node cannot publish now, on disk, replayed in order later.

While the broker is unreachable (or the primary host is offline) the node builds each ``DDATA`` as usual and
hands it here instead of to the broker; after the next birth it takes them back, oldest first, and publishes
them with every metric marked ``is_historical`` (Sparkplug B's way to say "late, not live"). A ``DDATA`` the
broker never acknowledged before the connection dropped comes back too (:meth:`StoreAndForward.reclaim`), in
front of the rest: it is older.

The buffer is an SQLite file (one row per message: device, payload, samples), bounded by ``max_samples``
metric values; when full, the oldest messages go first and their samples are counted as dropped. A buffer
file left by an earlier run of the same node is replayed too (its samples count as collected at start).
``max_samples`` 0 keeps nothing: every sample the node cannot publish is dropped, and counted.

Counts, in samples (metric values of ``DDATA`` messages; births are snapshots and not counted here):
``collected`` (put in a DDATA, live or buffered), ``published`` (handed to the broker and not taken back
unacknowledged, replays included), ``buffered`` (written to the buffer), ``replayed`` (published from it),
``dropped`` (pushed out of a full buffer), and ``pending`` (in the buffer now). Always::

    collected == published + dropped + pending

so once the buffer has drained, ``collected == published + dropped``.

>>> forward = StoreAndForward(None, max_samples=5)
>>> forward.store("plc1", b"a", 3); forward.store("plc1", b"b", 3)  # the second pushes the first out
>>> [m.payload for m in forward.take(10)], forward.counts.dropped, forward.pending
([b'b'], 3, 3)
>>> forward.sent(forward.take(1)[0]); forward.counts.invariant_holds(forward.pending)
True
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

BUFFER_FILE = "sparkplug_buffer.sqlite"  # in the edge's output folder (twin edge run --sparkplug)
DEFAULT_MAX_SAMPLES = 2_000_000  # about 30-60 MB on disk: an hour of 500 metrics at 1 s


@dataclass
class ForwardCounts:
    """Samples collected, published, buffered, replayed and dropped (see the module docstring)."""

    collected: int = 0
    published: int = 0
    buffered: int = 0
    replayed: int = 0
    dropped: int = 0

    def invariant_holds(self, pending: int) -> bool:
        """True when ``collected == published + dropped + pending``."""
        return self.collected == self.published + self.dropped + pending


@dataclass(frozen=True)
class Stored:
    """One buffered message: its row key, device, serialised payload and number of samples."""

    key: int
    device: str
    payload: bytes
    samples: int


class StoreAndForward:
    """A bounded, ordered, on-disk buffer of data messages with the counts above.

    ``path`` None keeps the buffer in memory (tests, and ``max_samples`` 0). ``max_samples`` must be >= 0.
    """

    def __init__(self, path: str | Path | None, max_samples: int) -> None:
        if max_samples < 0:
            raise ValueError(f"max_samples must be >= 0, got {max_samples}")
        self.path = Path(path) if path is not None else None
        self.max_samples = max_samples
        self.counts = ForwardCounts()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path) if self.path is not None else ":memory:")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS messages (k INTEGER PRIMARY KEY, device TEXT NOT NULL, "
                         "payload BLOB NOT NULL, samples INTEGER NOT NULL)")
        self.pending = int(self._db.execute("SELECT coalesce(sum(samples), 0) FROM messages").fetchone()[0])
        self.counts.collected = self.counts.buffered = self.pending  # left by an earlier run: replayed as well
        self._evict()

    def live(self, samples: int) -> None:
        """Count ``samples`` collected and published at once (the broker took them)."""
        self.counts.collected += samples
        self.counts.published += samples

    def store(self, device: str, payload: bytes, samples: int) -> None:
        """Buffer one message the node could not publish, behind the others."""
        self.counts.collected += samples
        self._insert([(device, payload, samples)], front=False)

    def reclaim(self, messages: list[tuple[str, bytes, int, bool]]) -> None:
        """Take back messages the broker never acknowledged — (device, payload, samples, was a replay) each, oldest
        first — in front of the buffer: they were published (and counted so) before anything buffered now."""
        for _device, _payload, samples, replay in messages:
            self.counts.published -= samples
            if replay:
                self.counts.replayed -= samples
        self._insert([m[:3] for m in messages], front=True)

    def take(self, limit: int) -> list[Stored]:
        """The oldest ``limit`` buffered messages (they stay buffered until :meth:`sent`)."""
        rows = self._db.execute("SELECT k, device, payload, samples FROM messages ORDER BY k LIMIT ?", [limit])
        return [Stored(int(k), str(device), bytes(payload), int(n)) for k, device, payload, n in rows]

    def sent(self, message: Stored) -> None:
        """``message`` was published: out of the buffer, counted replayed and published."""
        with self._db:
            deleted = self._db.execute("DELETE FROM messages WHERE k = ?", [message.key]).rowcount
        if deleted:
            self.pending -= message.samples
            self.counts.replayed += message.samples
            self.counts.published += message.samples

    def close(self) -> None:
        """Close the file (what is still buffered stays in it for the next run)."""
        self._db.close()

    def _insert(self, rows: list[tuple[str, bytes, int]], *, front: bool) -> None:
        if not rows:
            return
        with self._db:
            low, high = self._db.execute("SELECT coalesce(min(k), 1), coalesce(max(k), 0) FROM messages").fetchone()
            keys = range(low - len(rows), low) if front else range(high + 1, high + 1 + len(rows))
            self._db.executemany("INSERT INTO messages VALUES (?, ?, ?, ?)",
                                 [(k, *row) for k, row in zip(keys, rows, strict=True)])
        added = sum(row[2] for row in rows)
        self.pending += added
        self.counts.buffered += added
        self._evict()

    def _evict(self) -> None:
        """Drop the oldest messages until at most ``max_samples`` samples are buffered."""
        while self.pending > self.max_samples:
            k, samples = self._db.execute("SELECT k, samples FROM messages ORDER BY k LIMIT 1").fetchone()
            with self._db:
                self._db.execute("DELETE FROM messages WHERE k = ?", [k])
            self.pending -= samples
            self.counts.dropped += samples
