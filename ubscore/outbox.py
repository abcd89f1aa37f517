"""What UBSCore has produced to Kafka and what Kafka has acknowledged, as two watermarks.

Events (`event_id`) and commands (`command_seq`) are numbered densely, so "everything up to N is acknowledged" is
one integer per kind. Acknowledgements arrive per partition, so out of order across partitions: each kind keeps
the ids it sent in order and the ids acknowledged since, and moves its watermark over the acknowledged prefix.
The watermarks go into the WAL (a `D` record with the next batch) and the snapshot; after a crash, everything
above them is produced again (consumers drop what they already have by `event_id` / `command_seq`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class Watermark:
    """Ids sent in order, and the highest id below which every id is acknowledged."""

    confirmed: int = 0
    sent: deque[int] = field(default_factory=deque)
    acknowledged: set[int] = field(default_factory=set)

    def sending(self, item_id: int) -> None:
        """Record that `item_id` was handed to the producer (ids arrive in increasing order)."""
        assert not self.sent or item_id > self.sent[-1], (item_id, self.sent[-1])
        self.sent.append(item_id)

    def acknowledge(self, item_id: int) -> None:
        """Kafka acknowledged `item_id`; move the watermark over the acknowledged prefix."""
        self.acknowledged.add(item_id)
        sent, acknowledged = self.sent, self.acknowledged
        while sent and sent[0] in acknowledged:
            acknowledged.discard(sent[0])
            self.confirmed = sent.popleft()

    @property
    def unconfirmed(self) -> int:
        """Ids sent and not yet under the watermark."""
        return len(self.sent)


@dataclass(slots=True)
class Outbox:
    """The two watermarks and a record of delivery failures (fatal: the service stops and re-sends on start)."""

    events: Watermark = field(default_factory=Watermark)
    commands: Watermark = field(default_factory=Watermark)
    failures: list[str] = field(default_factory=list)
    durable: tuple[int, int] = (0, 0)  # the watermarks last written to the WAL

    def changed(self) -> bool:
        """True when the watermarks moved since they were last made durable."""
        return (self.events.confirmed, self.commands.confirmed) != self.durable
