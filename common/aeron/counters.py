"""Reader for the driver's counters (Agrona CountersReader): positions, limits, status indicators.

Values buffer: one 128-byte slot per counter id, the value is the long at +0 (registration id +8, owner +16,
reference +24). Metadata buffer: one 512-byte record per id: `+0 state (int)`, `+4 type id (int)`,
`+8 free-for-reuse deadline (long)`, `+16 key (112 bytes)`, `+128 label length (int)`, `+132 label`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from common.aeron.atomics import AtomicBuffer

COUNTER_LENGTH = 128
METADATA_LENGTH = 512
REGISTRATION_ID_OFFSET = 8
TYPE_ID_OFFSET = 4
LABEL_LENGTH_OFFSET = 128
LABEL_OFFSET = 132
NULL_COUNTER_ID = -1


class CounterState(enum.IntEnum):
    """Mirrors CountersReader.RECORD_* values."""

    UNUSED = 0
    ALLOCATED = 1
    RECLAIMED = -1


@dataclass(slots=True, frozen=True, kw_only=True)
class CounterInfo:
    """One allocated counter as seen in the metadata."""

    counter_id: int
    type_id: int
    label: str
    value: int


class CountersReader:
    """Reads counter values and metadata from the CnC file."""

    __slots__ = ("_buffer", "_metadata_offset", "_values_offset", "max_counter_id")

    def __init__(self, buffer: AtomicBuffer, *, metadata_offset: int, values_offset: int, values_length: int) -> None:
        self._buffer = buffer
        self._metadata_offset = metadata_offset
        self._values_offset = values_offset
        self.max_counter_id = values_length // COUNTER_LENGTH - 1

    def value_offset(self, counter_id: int) -> int:
        """Absolute offset of a counter's value in the CnC buffer (for hot-path readers)."""
        assert 0 <= counter_id <= self.max_counter_id, counter_id
        return self._values_offset + counter_id * COUNTER_LENGTH

    def get(self, counter_id: int) -> int:
        """Acquire-load a counter's value."""
        return self._buffer.get_i64_acquire(self.value_offset(counter_id))

    def registration_id(self, counter_id: int) -> int:
        """The registration id of the entity that owns the counter."""
        return self._buffer.get_i64_acquire(self.value_offset(counter_id) + REGISTRATION_ID_OFFSET)

    def state(self, counter_id: int) -> CounterState:
        """Allocation state of the counter slot."""
        return CounterState(self._buffer.get_i32_acquire(self._metadata_offset + counter_id * METADATA_LENGTH))

    def label(self, counter_id: int) -> str:
        """The counter's human-readable label."""
        record = self._metadata_offset + counter_id * METADATA_LENGTH
        length = self._buffer.get_i32(record + LABEL_LENGTH_OFFSET)
        return self._buffer.get_bytes(record + LABEL_OFFSET, length).decode("ascii", "replace")

    def allocated(self, *, counters_max: int = 4096) -> list[CounterInfo]:
        """Every allocated counter, in id order (stops at the first never-used slot or `counters_max`)."""
        found: list[CounterInfo] = []
        for counter_id in range(min(counters_max, self.max_counter_id + 1)):
            state = self.state(counter_id)
            if state == CounterState.UNUSED:
                break
            if state == CounterState.ALLOCATED:
                record = self._metadata_offset + counter_id * METADATA_LENGTH
                found.append(CounterInfo(counter_id=counter_id, type_id=self._buffer.get_i32(record + TYPE_ID_OFFSET),
                                         label=self.label(counter_id), value=self.get(counter_id)))
        return found
