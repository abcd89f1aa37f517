"""UbscoreMetrics.count: per-input counts gathered in a dict and applied to the Prometheus counters at a flush."""

from __future__ import annotations

from ubscore.metrics import UbscoreMetrics


def sample(metrics: UbscoreMetrics, name: str, labels: dict[str, str]) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_count_then_flush_adds_each_label_set_its_total() -> None:
    # Arrange
    metrics = UbscoreMetrics()
    accepted = {"kind": "place", "outcome": "accepted"}
    refused = {"kind": "place", "outcome": "refused"}

    # Act
    for _ in range(3):
        metrics.count(metrics.requests, "place", "accepted")
    metrics.count(metrics.requests, "place", "refused")
    before_flush = sample(metrics, "ubscore_requests_total", accepted)
    metrics.flush_counts()

    # Assert
    assert before_flush is None  # nothing reaches Prometheus before the flush
    assert sample(metrics, "ubscore_requests_total", accepted) == 3
    assert sample(metrics, "ubscore_requests_total", refused) == 1
    assert metrics.pending_counts == {}


def test_flush_counts_twice_does_not_count_again() -> None:
    # Arrange
    metrics = UbscoreMetrics()
    metrics.count(metrics.duplicates, "transfer")
    metrics.flush_counts()

    # Act
    metrics.flush_counts()

    # Assert
    assert sample(metrics, "ubscore_inputs_duplicate_total", {"kind": "transfer"}) == 1
