"""FragmentAssembler fed interleaved, missing and out-of-place fragments: it never hands over a mixed message."""

from __future__ import annotations

import random
import struct
import zlib
from dataclasses import dataclass

from common.aeron.image import Header
from common.aeron.log_buffer import BEGIN_FLAG, END_FLAG, HEADER_LENGTH, UNFRAGMENTED, align_frame
from common.aeron.subscription import FragmentAssembler

MAX_PAYLOAD = 1376  # MTU 1408 - 32, as the driver's default
_FRAME_HEADER = struct.Struct("<iBBhiiiiq")
_STAMP = struct.Struct("<II")  # message id, CRC-32 of the rest: every message can prove it is whole


@dataclass(frozen=True, slots=True, kw_only=True)
class Fragment:
    """One data frame as it sits in a term."""

    session_id: int
    term_id: int
    term_offset: int
    flags: int
    payload: bytes


def _message(message_id: int, length: int, rng: random.Random) -> bytes:
    body = rng.randbytes(length - _STAMP.size)
    return _STAMP.pack(message_id, zlib.crc32(body)) + body


def _fragments(message: bytes, *, session_id: int, term_id: int, term_offset: int) -> list[Fragment]:
    """Split `message` into frames as a publication does, starting at `term_offset`."""
    chunks = [message[start : start + MAX_PAYLOAD] for start in range(0, len(message), MAX_PAYLOAD)]
    fragments = []
    for index, chunk in enumerate(chunks):
        flags = (BEGIN_FLAG if index == 0 else 0) | (END_FLAG if index == len(chunks) - 1 else 0)
        fragments.append(Fragment(session_id=session_id, term_id=term_id, term_offset=term_offset, flags=flags,
                                  payload=chunk))
        term_offset += align_frame(len(chunk) + HEADER_LENGTH)
    return fragments


def _next_offset(fragments: list[Fragment]) -> int:
    last = fragments[-1]
    return last.term_offset + align_frame(len(last.payload) + HEADER_LENGTH)


class Feeder:
    """Calls an assembler the way Image.poll does: a frame in a log buffer, a Header pointing at it."""

    def __init__(self) -> None:
        self.log = bytearray(HEADER_LENGTH + 16 * 1024)
        self.header = Header(memoryview(self.log), initial_term_id=0, position_bits=16)
        self.delivered: list[bytes] = []
        self.assembler = FragmentAssembler(lambda payload, header: self.delivered.append(bytes(payload)))

    def feed(self, fragments: list[Fragment]) -> None:
        for fragment in fragments:
            length = HEADER_LENGTH + len(fragment.payload)
            _FRAME_HEADER.pack_into(self.log, 0, length, 0, fragment.flags, 1, fragment.term_offset,
                                    fragment.session_id, 9, fragment.term_id, 0)
            self.log[HEADER_LENGTH:length] = fragment.payload
            self.header.offset = 0
            self.assembler(memoryview(self.log)[HEADER_LENGTH:length], self.header)


def test_interleaved_sessions_are_each_reassembled_whole() -> None:
    """Two sessions' fragmented messages arriving interleaved fragment by fragment are each delivered whole."""
    rng = random.Random(1)
    first, second = _message(1, 4000, rng), _message(2, 3000, rng)
    a = _fragments(first, session_id=10, term_id=3, term_offset=0)
    b = _fragments(second, session_id=20, term_id=7, term_offset=4096)
    feeder = Feeder()
    feeder.feed([a[0], b[0], a[1], b[1], a[2], b[2]])
    assert sorted(feeder.delivered) == sorted([first, second])
    assert feeder.assembler.partial_sessions == 0


def test_continuation_that_does_not_follow_drops_the_partial_message() -> None:
    """A middle fragment lost: the END that follows is not at the expected term offset, so nothing is delivered
    (not a message with a hole); the next message is delivered whole."""
    rng = random.Random(2)
    broken, after = _message(1, 4000, rng), _message(2, 3000, rng)
    fragments = _fragments(broken, session_id=10, term_id=3, term_offset=0)
    following = _fragments(after, session_id=10, term_id=3, term_offset=_next_offset(fragments))
    feeder = Feeder()
    feeder.feed([fragments[0], fragments[2], *following])
    assert feeder.delivered == [after]


def test_continuation_from_another_message_is_never_joined() -> None:
    """The issue's reproduction: the first fragment of one message, then the END of a *different* message of the
    same session (the fragments in between lost). Old code joined them into one 'message'; now nothing."""
    rng = random.Random(3)
    first, second = _message(1, 3000, rng), _message(2, 3000, rng)
    a = _fragments(first, session_id=10, term_id=3, term_offset=0)
    b = _fragments(second, session_id=10, term_id=3, term_offset=_next_offset(a))
    feeder = Feeder()
    feeder.feed([a[0], b[1], b[2]])
    assert feeder.delivered == []
    assert feeder.assembler.partial_sessions == 0


def test_new_first_fragment_while_one_is_in_progress_drops_the_old_one() -> None:
    """A BEGIN arrives while a message is half reassembled: the half is dropped, the new message is whole."""
    rng = random.Random(4)
    old, new = _message(1, 4000, rng), _message(2, 3500, rng)
    a = _fragments(old, session_id=10, term_id=3, term_offset=0)
    b = _fragments(new, session_id=10, term_id=3, term_offset=_next_offset(a))
    feeder = Feeder()
    feeder.feed([a[0], a[1], *b, a[2]])
    assert feeder.delivered == [new]


def test_whole_message_while_one_is_in_progress_drops_the_partial_one() -> None:
    """An unfragmented message of the same session arrives mid-reassembly: it is delivered, the partial one is
    dropped, and its late END is not joined to anything."""
    rng = random.Random(5)
    partial, whole = _message(1, 4000, rng), _message(2, 100, rng)
    a = _fragments(partial, session_id=10, term_id=3, term_offset=0)
    feeder = Feeder()
    feeder.feed([a[0], a[1], Fragment(session_id=10, term_id=3, term_offset=_next_offset(a[:2]),
                                      flags=UNFRAGMENTED, payload=whole), a[2]])
    assert feeder.delivered == [whole]


def test_gap_after_a_driver_restart_never_mixes_messages() -> None:
    """A subscriber's driver restarts mid-message: the old image left a partial message of session 10 (term 5),
    the new image of the same session joins later (term 9) at a middle fragment of another message. That middle
    and its END are dropped, not appended to the stale partial; the next whole message is delivered."""
    rng = random.Random(6)
    before, during, after = _message(1, 5000, rng), _message(2, 5000, rng), _message(3, 3000, rng)
    old_image = _fragments(before, session_id=10, term_id=5, term_offset=8192)
    new_image = _fragments(during, session_id=10, term_id=9, term_offset=0)
    following = _fragments(after, session_id=10, term_id=9, term_offset=_next_offset(new_image))
    feeder = Feeder()
    feeder.feed([*old_image[:2], *new_image[1:], *following])
    assert feeder.delivered == [after]


def test_gap_at_the_same_term_offset_in_another_term_is_not_joined() -> None:
    """A continuation at exactly the expected term offset but in a later term (three terms on: the partition
    was reused) is a gap too: the term id must match as well."""
    rng = random.Random(7)
    first, second = _message(1, 3000, rng), _message(2, 3000, rng)
    a = _fragments(first, session_id=10, term_id=3, term_offset=0)
    b = _fragments(second, session_id=10, term_id=6, term_offset=0)
    feeder = Feeder()
    feeder.feed([a[0], b[1], b[2]])
    assert feeder.delivered == []


def test_random_losses_and_interleaving_never_deliver_a_mixed_or_partial_message() -> None:
    """Three sessions' streams of small and fragmented messages, interleaved at random, with random fragments
    lost and random 'restarts' (jumps to a later term): every delivered message is one original message, whole,
    and every message whose fragments all arrived in sequence is delivered, in its session's order."""
    seed = 20261124
    print(f"seed {seed}")
    rng = random.Random(seed)
    originals: dict[bytes, tuple[int, int]] = {}
    streams: list[list[list[Fragment]]] = []
    for session_id in (10, 20, 30):
        term_id, term_offset, messages = 1, 0, []
        for index in range(300):
            if rng.random() < 0.02:
                term_id, term_offset = term_id + rng.randrange(1, 4), rng.randrange(0, 64) * 32  # a restart
            message = _message(session_id * 1000 + index, rng.choice((20, 200, 1500, 2800, 6000)), rng)
            originals[message] = (session_id, index)
            fragments = _fragments(message, session_id=session_id, term_id=term_id, term_offset=term_offset)
            term_offset = _next_offset(fragments)
            messages.append(fragments)
        streams.append(messages)
    expected: list[bytes] = []
    arrivals: list[list[Fragment]] = []
    for messages in streams:
        arrived = []
        for fragments in messages:
            kept = [fragment for fragment in fragments if rng.random() > 0.03]
            if kept == fragments:
                expected.append(b"".join(fragment.payload for fragment in fragments))
            arrived.extend(kept)
        arrivals.append(arrived)
    assert 0 < len(expected) < len(originals)  # some messages really lost fragments
    feeder = Feeder()
    positions = [0, 0, 0]
    while any(positions[index] < len(arrivals[index]) for index in range(3)):
        index = rng.choice([index for index in range(3) if positions[index] < len(arrivals[index])])
        feeder.feed([arrivals[index][positions[index]]])
        positions[index] += 1
    for message in feeder.delivered:
        assert message in originals, "a delivered message is not one of the published messages"
        _, crc = _STAMP.unpack_from(message, 0)
        assert zlib.crc32(message[_STAMP.size :]) == crc
    for session_id in (10, 20, 30):
        delivered = [message for message in feeder.delivered if originals[message][0] == session_id]
        wanted = [message for message in expected if originals[message][0] == session_id]
        assert delivered == wanted
