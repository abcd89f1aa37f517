"""Write-ahead log and snapshot files: round trips, group commit, torn tails, corruption, rollover, retention."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.errors import WalCorrupt
from common.snapshot import list_snapshots, load_latest_snapshot, write_snapshot
from common.wal import RECORD_HEADER, SEGMENT_HEADER, WAL_INDEX_STRIDE, Wal, frame_record, list_segments


def read_all(wal: Wal, from_lsn: int = 1) -> list[tuple[int, bytes]]:
    return [(record.lsn, record.payload) for record in wal.read(from_lsn)]


def test_append_then_reopen_reads_every_record_in_order(tmp_path: Path) -> None:
    """Records appended in two batches come back, in order, with dense lsns, after the log is closed and reopened."""
    wal = Wal.open(tmp_path)
    assert wal.append([b"a", b"bb"]) == 2
    assert wal.append([b"", b"cccc"]) == 4
    wal.close()

    reopened = Wal.open(tmp_path)

    assert read_all(reopened) == [(1, b"a"), (2, b"bb"), (3, b""), (4, b"cccc")]
    assert reopened.next_lsn == 5
    assert read_all(reopened, from_lsn=3) == [(3, b""), (4, b"cccc")]


def test_append_batch_fsyncs_once_per_batch(tmp_path: Path) -> None:
    """Group commit: a batch of 100 records costs one fsync, not 100."""
    wal = Wal.open(tmp_path)

    wal.append([b"x" * 10] * 100)
    wal.append([b"y"])

    assert wal.fsync_count == 2


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(st.lists(st.binary(max_size=300), min_size=1, max_size=20), min_size=1, max_size=15),
    segment_bytes_max=st.integers(min_value=64, max_value=2_000),
    from_lsn=st.integers(min_value=1, max_value=400),
)
def test_round_trip_any_batches_any_segment_size(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[bytes]], segment_bytes_max: int, from_lsn: int
) -> None:
    """Whatever the batches and the segment size, reopening yields exactly the appended payloads from any lsn."""
    directory = tmp_path_factory.mktemp("wal")
    wal = Wal.open(directory, segment_bytes_max=segment_bytes_max)
    expected = [payload for batch in batches for payload in batch]
    for batch in batches:
        wal.append(batch)
    wal.close()

    reopened = Wal.open(directory, segment_bytes_max=segment_bytes_max)

    assert [payload for _, payload in read_all(reopened)] == expected
    assert read_all(reopened, from_lsn) == list(enumerate(expected, start=1))[from_lsn - 1 :]
    reopened.append([b"after"])
    assert reopened.last_lsn == len(expected) + 1


def test_rollover_starts_new_segment_named_by_first_lsn(tmp_path: Path) -> None:
    """Past the size limit, a new segment starts; its name is the lsn of its first record."""
    wal = Wal.open(tmp_path, segment_bytes_max=SEGMENT_HEADER.size + 3 * (RECORD_HEADER.size + 10))

    for index in range(10):
        wal.append([bytes([index]) * 10])

    assert [first for first, _ in list_segments(tmp_path)] == [1, 4, 7, 10]
    assert [payload[0] for _, payload in read_all(wal)] == list(range(10))


def test_record_larger_than_segment_limit_gets_its_own_segment(tmp_path: Path) -> None:
    """A record bigger than the segment limit is still written (alone in a segment), and rollover terminates."""
    wal = Wal.open(tmp_path, segment_bytes_max=100)

    wal.append([b"small", b"B" * 500, b"after"])

    assert [first for first, _ in list_segments(tmp_path)] == [1, 2, 3]
    assert [payload for _, payload in read_all(wal)] == [b"small", b"B" * 500, b"after"]


def test_torn_tail_is_truncated_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A crash mid-write leaves half a record at the end: open() cuts it off, warns, and appends continue."""
    wal = Wal.open(tmp_path)
    wal.append([b"one", b"two"])
    wal.close()
    _, path = list_segments(tmp_path)[-1]
    whole_bytes = path.stat().st_size
    with open(path, "ab") as file:  # a third record whose payload was only partly written
        file.write(frame_record(3, b"p" * 100)[: RECORD_HEADER.size + 7])

    with caplog.at_level(logging.WARNING, logger="common.wal"):
        reopened = Wal.open(tmp_path)

    assert "TORN TAIL" in caplog.text
    assert path.stat().st_size == whole_bytes
    assert read_all(reopened) == [(1, b"one"), (2, b"two")]
    reopened.append([b"three"])
    assert read_all(Wal.open(tmp_path)) == [(1, b"one"), (2, b"two"), (3, b"three")]


@pytest.mark.parametrize("cut_bytes", [1, RECORD_HEADER.size - 1, RECORD_HEADER.size + 1])
def test_torn_tail_at_any_cut_point_keeps_whole_records(tmp_path: Path, cut_bytes: int) -> None:
    """Cutting the last record anywhere (header or payload) loses only that record."""
    wal = Wal.open(tmp_path)
    wal.append([b"keep", b"last-record"])
    wal.close()
    _, path = list_segments(tmp_path)[-1]
    last_record_bytes = RECORD_HEADER.size + len(b"last-record")
    with open(path, "r+b") as file:
        file.truncate(path.stat().st_size - last_record_bytes + cut_bytes)

    assert read_all(Wal.open(tmp_path)) == [(1, b"keep")]


def test_flipped_bit_in_middle_record_raises_wal_corrupt(tmp_path: Path) -> None:
    """A bit flipped in a record with more records after it is corruption, not a torn tail: open() refuses."""
    wal = Wal.open(tmp_path)
    wal.append([b"first-record", b"second-record", b"third-record"])
    wal.close()
    _, path = list_segments(tmp_path)[-1]
    data = bytearray(path.read_bytes())
    second_payload_at = SEGMENT_HEADER.size + RECORD_HEADER.size + len(b"first-record") + RECORD_HEADER.size
    data[second_payload_at + 3] ^= 0x04
    path.write_bytes(bytes(data))

    with pytest.raises(WalCorrupt, match="CRC mismatch"):
        Wal.open(tmp_path)


def test_zero_filled_tail_is_a_torn_tail(tmp_path: Path) -> None:
    """Zeros after the last record (space allocated but never written before the crash) are cut off."""
    wal = Wal.open(tmp_path)
    wal.append([b"kept"])
    wal.close()
    _, path = list_segments(tmp_path)[-1]
    with open(path, "ab") as file:
        file.write(bytes(100))

    assert read_all(Wal.open(tmp_path)) == [(1, b"kept")]


def test_grown_length_in_middle_record_is_corruption_not_a_torn_tail(tmp_path: Path) -> None:
    """A flipped high bit in a length points past the end of the file; the header CRC still calls it corruption."""
    wal = Wal.open(tmp_path)
    wal.append([b"first", b"second", b"third"])
    wal.close()
    _, path = list_segments(tmp_path)[-1]
    data = bytearray(path.read_bytes())
    second_header_at = SEGMENT_HEADER.size + RECORD_HEADER.size + len(b"first")
    data[second_header_at + 2] ^= 0x10  # payload_bytes grows by 1 MiB
    path.write_bytes(bytes(data))

    with pytest.raises(WalCorrupt, match="header CRC"):
        Wal.open(tmp_path)


def test_flipped_bit_in_older_segment_raises_even_at_its_end(tmp_path: Path) -> None:
    """A bad last record in a segment that is not the last one cannot be a torn tail: WalCorrupt."""
    wal = Wal.open(tmp_path, segment_bytes_max=SEGMENT_HEADER.size + RECORD_HEADER.size + 5)
    wal.append([b"aaaaa", b"bbbbb", b"ccccc"])
    wal.close()
    _, first_segment = list_segments(tmp_path)[0]
    data = bytearray(first_segment.read_bytes())
    data[-1] ^= 0x01
    first_segment.write_bytes(bytes(data))

    with pytest.raises(WalCorrupt):
        Wal.open(tmp_path)


def test_flipped_bit_detected_on_read_after_open(tmp_path: Path) -> None:
    """The CRC is checked again on every read, so damage after open() is still caught."""
    wal = Wal.open(tmp_path)
    wal.append([b"alpha", b"beta"])
    _, path = list_segments(tmp_path)[-1]
    data = bytearray(path.read_bytes())
    data[SEGMENT_HEADER.size + RECORD_HEADER.size] ^= 0x80
    path.write_bytes(bytes(data))

    with pytest.raises(WalCorrupt):
        read_all(wal)


@pytest.mark.parametrize("reopen", [False, True], ids=["index-from-appends", "index-from-open"])
def test_read_from_an_lsn_seeks_past_the_records_before_it(tmp_path: Path, reopen: bool) -> None:
    """Reading from lsn N starts at the nearest indexed record, never at the segment start: a record damaged on
    disk before N is not even read (reading from the segment start still catches it), and every start point returns
    the same records as a full read, whether the index was built by appends or by the scan at open."""
    wal = Wal.open(tmp_path, segment_bytes_max=8_192)
    payloads = [bytes([n % 251]) * (n % 37) for n in range(1, 1_001)]
    for start in range(0, 1_000, 90):
        wal.append(payloads[start : start + 90])
    if reopen:
        wal.close()
        wal = Wal.open(tmp_path, segment_bytes_max=8_192)
    everything = read_all(wal)
    assert all(read_all(wal, from_lsn) == everything[from_lsn - 1 :] for from_lsn in range(1, 1_001, 7))
    first_lsn, path = list_segments(tmp_path)[-1]
    with open(path, "r+b") as file:  # damage the header of the last segment's second record (its lsn field)
        file.seek(SEGMENT_HEADER.size + RECORD_HEADER.size + (first_lsn % 37) + 4)
        file.write(b"\xee")
    late_lsn = first_lsn + WAL_INDEX_STRIDE + 3

    assert read_all(wal, late_lsn) == everything[late_lsn - 1 :]
    with pytest.raises(WalCorrupt):
        read_all(wal, first_lsn)


@given(
    sizes=st.lists(st.integers(min_value=0, max_value=3_000), min_size=1, max_size=60),
    from_index=st.integers(min_value=0, max_value=80),
    bytes_max=st.integers(min_value=1, max_value=20_000),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_read_chunk_returns_a_prefix_of_read_within_one_segment(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], from_index: int, bytes_max: int
) -> None:
    """read_chunk(lsn) returns the records read(lsn) gives, in order, stopping at a segment end or once about
    `bytes_max` payload bytes were collected, and at least one record whenever one is durable."""
    wal = Wal.open(tmp_path_factory.mktemp("wal"), segment_bytes_max=8_192)
    wal.append([bytes([n % 251]) * size for n, size in enumerate(sizes)])
    from_lsn = 1 + from_index

    chunk = [(record.lsn, record.payload) for record in wal.read_chunk(from_lsn, bytes_max=bytes_max)]
    expected = read_all(wal, from_lsn)

    assert chunk == expected[: len(chunk)]
    assert bool(chunk) == bool(expected)
    assert sum(len(payload) for _, payload in chunk[:-1]) < bytes_max
    wal.close()


def damage_first_record_payload(path: Path) -> None:
    with open(path, "r+b") as file:
        file.seek(SEGMENT_HEADER.size + RECORD_HEADER.size)
        byte = file.read(1)
        file.seek(-1, 1)
        file.write(bytes([byte[0] ^ 0xFF]))


def test_open_without_verify_sealed_trusts_exact_segment_indexes_and_reads_still_check(tmp_path: Path) -> None:
    """verify_sealed=False opens from the index files of sealed segments without reading them (a damaged record
    there passes open), reads the same records as a full open, and the damage still raises WalCorrupt on read."""
    wal = Wal.open(tmp_path, segment_bytes_max=2_048)
    for batch in range(20):
        wal.append([bytes([batch]) * 100] * 5)
    everything = read_all(wal)
    wal.close()
    assert len(list(tmp_path.glob("wal-*.idx"))) == len(list_segments(tmp_path)) - 1
    damage_first_record_payload(list_segments(tmp_path)[0][1])

    with pytest.raises(WalCorrupt):
        Wal.open(tmp_path, segment_bytes_max=2_048)
    fast = Wal.open(tmp_path, segment_bytes_max=2_048, verify_sealed=False)
    assert fast.next_lsn == 101
    assert read_all(fast, 2) == everything[1:]
    with pytest.raises(WalCorrupt):
        read_all(fast, 1)


@pytest.mark.parametrize("damage", ["missing", "flipped", "wrong-size"])
def test_segment_without_an_exact_index_is_scanned(tmp_path: Path, damage: str) -> None:
    """A missing or damaged index file, or one whose size no longer matches its segment, is ignored: the segment is
    scanned, so a damaged record in it is refused at open even with verify_sealed=False."""
    wal = Wal.open(tmp_path, segment_bytes_max=2_048)
    for batch in range(10):
        wal.append([bytes([batch]) * 100] * 5)
    wal.close()
    first_segment = list_segments(tmp_path)[0][1]
    index_file = first_segment.with_suffix(".idx")
    if damage == "missing":
        index_file.unlink()
    elif damage == "flipped":
        data = bytearray(index_file.read_bytes())
        data[-1] ^= 0x01
        index_file.write_bytes(bytes(data))
    else:
        with open(first_segment, "ab") as file:
            file.write(b"\x00")
    damage_first_record_payload(first_segment)

    with pytest.raises(WalCorrupt):
        Wal.open(tmp_path, segment_bytes_max=2_048, verify_sealed=False)


def test_missing_segment_in_the_middle_raises(tmp_path: Path) -> None:
    """A segment deleted from the middle leaves an lsn gap: WalCorrupt, never a silent skip."""
    wal = Wal.open(tmp_path, segment_bytes_max=SEGMENT_HEADER.size + RECORD_HEADER.size + 1)
    wal.append([b"a", b"b", b"c"])
    wal.close()
    list_segments(tmp_path)[1][1].unlink()

    with pytest.raises(WalCorrupt, match="previous one ended"):
        Wal.open(tmp_path)


def test_truncate_before_deletes_only_whole_older_segments(tmp_path: Path) -> None:
    """Retention drops segments entirely below the snapshot lsn and keeps every record at or above it."""
    wal = Wal.open(tmp_path, segment_bytes_max=SEGMENT_HEADER.size + 2 * (RECORD_HEADER.size + 1))
    wal.append([bytes([index]) for index in range(7)])  # segments start at 1, 3, 5, 7

    deleted = wal.truncate_before(6)

    assert deleted == 2
    assert [first for first, _ in list_segments(tmp_path)] == [5, 7]
    assert wal.first_lsn == 5
    assert [lsn for lsn, _ in read_all(Wal.open(tmp_path), from_lsn=5)] == [5, 6, 7]


def test_start_at_continues_numbering_on_an_empty_log(tmp_path: Path) -> None:
    """A log restored next to a snapshot at lsn 41 continues at 42."""
    wal = Wal.open(tmp_path)
    wal.start_at(42)

    wal.append([b"x"])

    assert read_all(Wal.open(tmp_path), from_lsn=1) == [(42, b"x")]


def test_snapshot_round_trip_keeps_newest_two(tmp_path: Path) -> None:
    """Snapshots are written atomically, read back by lsn, and only the newest two stay on disk."""
    for lsn in (10, 20, 30):
        write_snapshot(tmp_path, lsn, f"state@{lsn}".encode())

    latest = load_latest_snapshot(tmp_path)

    assert latest is not None
    assert (latest.lsn, latest.payload) == (30, b"state@30")
    assert [lsn for lsn, _ in list_snapshots(tmp_path)] == [20, 30]
    assert not list(tmp_path.glob("*.tmp"))


def test_damaged_newest_snapshot_falls_back_to_older(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A snapshot with a flipped bit is passed over loudly; the older one is loaded."""
    write_snapshot(tmp_path, 5, b"older")
    newest = write_snapshot(tmp_path, 9, b"newer")
    data = bytearray(newest.read_bytes())
    data[-1] ^= 0x01
    newest.write_bytes(bytes(data))

    with caplog.at_level(logging.ERROR, logger="common.snapshot"):
        latest = load_latest_snapshot(tmp_path)

    assert latest is not None
    assert latest.payload == b"older"
    assert "SNAPSHOT UNREADABLE" in caplog.text


def test_no_snapshot_returns_none(tmp_path: Path) -> None:
    """An empty or missing directory has no snapshot."""
    assert load_latest_snapshot(tmp_path / "absent") is None
    assert load_latest_snapshot(tmp_path) is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    payloads=st.lists(st.binary(min_size=1, max_size=64), min_size=1, max_size=12),
    cut_fraction=st.floats(min_value=0.0, max_value=1.0),
)
def test_crash_cut_anywhere_recovers_exactly_the_whole_records(
    tmp_path_factory: pytest.TempPathFactory, payloads: list[bytes], cut_fraction: float
) -> None:
    """Cutting the last segment at any byte keeps exactly the records that were entirely before the cut."""
    directory = tmp_path_factory.mktemp("wal")
    wal = Wal.open(directory)
    wal.append(payloads)
    wal.close()
    _, path = list_segments(directory)[-1]
    size_bytes = path.stat().st_size
    cut_at = int(cut_fraction * size_bytes)
    with open(path, "r+b") as file:
        file.truncate(cut_at)
    ends, position = [], SEGMENT_HEADER.size
    for payload in payloads:
        position += RECORD_HEADER.size + len(payload)
        ends.append(position)

    reopened = Wal.open(directory)

    kept = sum(1 for end in ends if end <= cut_at)
    assert [payload for _, payload in read_all(reopened)] == payloads[:kept]
    reopened.append([b"next"])
    assert reopened.last_lsn == kept + 1


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    payloads=st.lists(st.binary(min_size=1, max_size=64), min_size=2, max_size=10),
    flip_fraction=st.floats(min_value=0.0, max_value=0.999),
    bit=st.integers(min_value=0, max_value=7),
)
def test_any_flipped_bit_is_refused_or_costs_only_the_last_record(
    tmp_path_factory: pytest.TempPathFactory, payloads: list[bytes], flip_fraction: float, bit: int
) -> None:
    """A flipped bit anywhere never yields wrong data: WalCorrupt, or (in the last record) a torn-tail cut."""
    directory = tmp_path_factory.mktemp("wal")
    wal = Wal.open(directory)
    wal.append(payloads)
    wal.close()
    _, path = list_segments(directory)[-1]
    data = bytearray(path.read_bytes())
    data[int(flip_fraction * len(data))] ^= 1 << bit
    path.write_bytes(bytes(data))

    try:
        recovered = [payload for _, payload in read_all(Wal.open(directory))]
    except WalCorrupt:
        return
    assert recovered in (payloads, payloads[:-1])
    last_record_start = len(data) - RECORD_HEADER.size - len(payloads[-1])
    assert recovered == payloads[:-1]
    assert int(flip_fraction * len(data)) >= last_record_start
