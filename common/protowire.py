"""The two pieces of the protobuf wire format we write by hand: varints and length-delimited fields.

Used where serialized messages are spliced together without parsing them again (replay answers and feed messages
are `ReplayResponse` bytes made by concatenating already-serialized outputs; the chain writes an output's four
header fields in front of its body). Encodings are minimal, exactly as protobuf itself writes them.
"""

from __future__ import annotations

LENGTH_DELIMITED = 2


# One-byte varints, and the two continuation bytes of every 14-bit group: a varint takes ceil(bits / 14) steps.
_ONE_BYTE = [bytes((value,)) for value in range(0x80)]
_GROUP14 = [bytes(((group & 0x7F) | 0x80, (group >> 7) | 0x80)) for group in range(1 << 14)]


def varint(value: int) -> bytes:
    """Base-128 varint of a non-negative int."""
    assert value >= 0, value
    if value < 0x80:
        return _ONE_BYTE[value]
    parts = []
    while value >= 0x4000:  # at least three 7-bit groups left: the next two continue for sure
        parts.append(_GROUP14[value & 0x3FFF])
        value >>= 14
    parts.append(bytes(((value & 0x7F) | 0x80, value >> 7)) if value >= 0x80 else _ONE_BYTE[value])
    return b"".join(parts)


def length_delimited(field_number: int, data: bytes) -> bytes:
    """One length-delimited field entry (a submessage, bytes or string; or one element of a repeated one)."""
    if field_number < 16:  # a one-byte tag: skip one varint call on the hot path (feed and replay framing)
        return bytes(((field_number << 3) | LENGTH_DELIMITED,)) + varint(len(data)) + data
    return varint((field_number << 3) | LENGTH_DELIMITED) + varint(len(data)) + data
