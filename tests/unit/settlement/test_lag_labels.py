"""The Kafka lag gauge covers only the partitions this instance owns: a rebalance that takes partitions away drops
their label children (with two instances, each exported every partition it ever owned, stale values included)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import TopicPartition

from settlement.config import SettlementConfig
from settlement.metrics import SettlementMetrics
from settlement.service import SettlementService

TOPIC = "balance.events"
HIGH_WATERMARK = 100


@dataclass
class FakeConsumer:
    """The part of a confluent_kafka Consumer the loop's lag check and subscription use; nothing read yet."""

    owned: list[int] = field(default_factory=list)
    on_revoke: Callable[[Any, list[TopicPartition]], None] | None = None
    service: SettlementService | None = None

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        assert topics == [TOPIC]
        self.on_revoke = callbacks.get("on_revoke")

    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        assert self.service is not None
        self.service.stop()  # one turn is enough
        return []

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(TOPIC, partition) for partition in self.owned]

    def get_watermark_offsets(self, tp: TopicPartition, cached: bool = False) -> tuple[int, int]:
        return 0, HIGH_WATERMARK

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, -1001) for tp in partitions]  # OFFSET_INVALID: none read


def _service(consumer: FakeConsumer, metrics: SettlementMetrics) -> SettlementService:
    """A service with no matcher shard (no CQL read at construction) and the fake consumer."""
    config = SettlementConfig.from_env({"SETTLEMENT_SHARDS": "", "SETTLEMENT_BALANCE_TOPIC": TOPIC})
    service = SettlementService(config=config, session=None, writer=None, consumer=consumer,  # type: ignore[arg-type]
                                context=None, markets={}, metrics=metrics)  # type: ignore[arg-type]
    consumer.service = service
    return service


def _lag(metrics: SettlementMetrics, partition: int) -> float | None:
    return metrics.registry.get_sample_value("settlement_kafka_lag_records", {"partition": str(partition)})


def test_revoked_partitions_leave_the_lag_gauge() -> None:
    """Owning 0-3 exports four lags; once 2 and 3 are revoked only 0 and 1 remain, and they keep being updated."""
    metrics = SettlementMetrics()
    consumer = FakeConsumer(owned=[0, 1, 2, 3])
    service = _service(consumer, metrics)
    service.run()  # subscribes, one turn, records the lags
    assert [_lag(metrics, p) for p in range(4)] == [HIGH_WATERMARK] * 4
    assert consumer.on_revoke is not None  # the group's revocations reach the service

    consumer.on_revoke(consumer, [TopicPartition(TOPIC, 2), TopicPartition(TOPIC, 3)])
    consumer.owned = [0, 1]  # confluent_kafka unassigns them after the callback
    service.last_lag_check_ns = 0
    service._record_lag()
    assert [_lag(metrics, p) for p in range(4)] == [HIGH_WATERMARK, HIGH_WATERMARK, None, None]


def test_revoking_a_partition_never_exported_is_harmless() -> None:
    """A revocation before the first lag check (or of every partition, at close) removes what is there, no error."""
    metrics = SettlementMetrics()
    consumer = FakeConsumer()
    service = _service(consumer, metrics)
    service._forget_revoked(consumer, [TopicPartition(TOPIC, 5)])  # type: ignore[arg-type]
    service._forget_revoked(consumer, [])  # type: ignore[arg-type]
    assert _lag(metrics, 5) is None
