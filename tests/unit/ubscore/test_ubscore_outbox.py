"""Delivery watermarks: acknowledgements arrive out of order across partitions; the watermark only moves over a
prefix in which every id is acknowledged."""

from __future__ import annotations

from ubscore.outbox import Watermark


def test_watermark_moves_only_over_the_acknowledged_prefix() -> None:
    watermark = Watermark(confirmed=10)
    for item_id in (11, 12, 13, 14):
        watermark.sending(item_id)
    watermark.acknowledge(13)  # another partition answered first
    watermark.acknowledge(12)
    assert (watermark.confirmed, watermark.unconfirmed) == (10, 4)
    watermark.acknowledge(11)
    assert (watermark.confirmed, watermark.unconfirmed) == (13, 1)
    watermark.acknowledge(14)
    assert (watermark.confirmed, watermark.unconfirmed, watermark.acknowledged) == (14, 0, set())
