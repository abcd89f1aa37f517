"""common/kafka.py: librdkafka's own log lines reach the Python logger `kafka.client` and come out as JSON lines
through common/logs.py, never raw (`%3|...|FAIL|...`) on stderr. Each client points at a closed port, so librdkafka
logs a connection FAIL (severity 3: ERROR) within a second; no broker is needed."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import KafkaException

from common import logs
from common.kafka import CLIENT_LOGGER_NAME, make_admin, make_consumer, make_producer

DEADLINE_S = 15.0


pytestmark = pytest.mark.usefixtures("restore_root_logger")


@pytest.fixture
def closed_port() -> str:
    """host:port where nothing listens (a port the kernel just gave out, released again)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"127.0.0.1:{port}"


def _json_lines(text: str) -> list[dict[str, Any]]:
    """Every non-empty line of `text` as a JSON object (fails the test on the first line that is not JSON)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _until_fail_logged(capfd: pytest.CaptureFixture[str], serve: Callable[[], object]) -> list[dict[str, Any]]:
    """Call `serve` (which polls the client) until a kafka.client FAIL line is captured; return every line seen."""
    seen: list[dict[str, Any]] = []
    deadline_s = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline_s:
        serve()
        captured = capfd.readouterr()
        assert captured.out == ""
        seen += _json_lines(captured.err)  # raw librdkafka lines (`%3|...`) would fail here
        if any(line.get("kafka_facility") == "FAIL" for line in seen):
            return seen
    raise AssertionError(f"no FAIL line from librdkafka within {DEADLINE_S} s; lines: {seen}")


def _the_fail_line(seen: list[dict[str, Any]], client_prefix: str) -> dict[str, Any]:
    line = next(line for line in seen if line.get("kafka_facility") == "FAIL")
    assert line["logger"] == CLIENT_LOGGER_NAME
    assert line["level"] == "ERROR"  # librdkafka severity 3 (LOG_ERR)
    assert line["kafka_client"].startswith(client_prefix), line
    assert line["message"].startswith(f"FAIL [{line['kafka_client']}] "), line
    assert "Connection refused" in line["message"], line
    return line


def test_a_producer_logs_librdkafka_lines_as_json(capfd: pytest.CaptureFixture[str], closed_port: str) -> None:
    logs.configure("INFO", "json")
    producer = make_producer(closed_port, client_id="log-test")
    seen = _until_fail_logged(capfd, lambda: producer.poll(0.1))  # the service loop's poll() delivers them
    _the_fail_line(seen, "log-test#producer-")


def test_a_consumer_logs_librdkafka_lines_as_json(capfd: pytest.CaptureFixture[str], closed_port: str) -> None:
    logs.configure("INFO", "json")
    consumer = make_consumer(closed_port, client_id="log-test")
    try:
        seen = _until_fail_logged(capfd, lambda: consumer.consume(num_messages=1, timeout=0.1))
    finally:
        consumer.close()
    _the_fail_line(seen, "log-test#consumer-")


def test_an_admin_client_delivers_its_lines_without_being_polled(
    capfd: pytest.CaptureFixture[str], closed_port: str
) -> None:
    logs.configure("INFO", "json")
    admin = make_admin(closed_port)

    def list_topics() -> None:
        with pytest.raises(KafkaException):  # nothing answers
            admin.list_topics(timeout=0.5)

    seen = _until_fail_logged(capfd, list_topics)  # no explicit poll(): the client polls after each call
    _the_fail_line(seen, "rdkafka#producer-")  # librdkafka's admin handle is a producer without a client.id


def test_text_format_keeps_the_client_name(capfd: pytest.CaptureFixture[str], closed_port: str) -> None:
    logs.configure("INFO", "text")
    producer = make_producer(closed_port, client_id="text-test")
    deadline_s = time.monotonic() + DEADLINE_S
    err = ""
    while "kafka_facility=FAIL" not in err and time.monotonic() < deadline_s:
        producer.poll(0.1)
        err += capfd.readouterr().err
    assert " ERROR kafka.client FAIL [text-test#producer-" in err
    assert "kafka_client=text-test#producer-" in err
    assert "|FAIL|" not in err  # librdkafka's own format never reaches stderr
