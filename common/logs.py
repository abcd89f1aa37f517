"""Structured logs shared by every service: one JSON object per line on stderr.

Each line carries `asctime`, `level`, `logger`, `message` and every field passed with `extra=`, so the ids that
follow one order through the services (`request_id`, `client_order_id`, `order_id`, `command_seq`, `event_id`,
`seq`, `trade_ids`, `trace_id`) can be filtered with jq. `LOG_FORMAT=text` prints plain lines for a human at a
terminal instead (the `extra` fields then go after the message as key=value).

The Kafka clients' own lines (librdkafka's) come through here too, as logger `kafka.client` with `kafka_facility`
and `kafka_client` fields (common/kafka.py), JSON like every other record.
"""

from __future__ import annotations

import logging
import os
import sys

from pythonjsonlogger.json import JsonFormatter

LOG_FORMATS = ("json", "text")
# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class TextFormatter(logging.Formatter):
    """`time level logger message key=value ...`: the `extra` fields appended so the ids are still visible."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The plain line, then the record's extra fields in the order they were given."""
        line = super().format(record)
        extras = " ".join(f"{key}={value}" for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES)
        return f"{line} {extras}" if extras else line


def json_formatter() -> logging.Formatter:
    """The JSON formatter: time, level, logger, message, then the `extra` fields (and the traceback if any)."""
    return JsonFormatter(
        "{asctime}{levelname}{name}{message}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
    )


def configure(level: str = "INFO", log_format: str | None = None) -> None:
    """Send every logger's records to stderr at `level`, as JSON lines unless `log_format` (default: the
    LOG_FORMAT environment variable, else json) is "text"."""
    chosen = (log_format or os.environ.get("LOG_FORMAT") or "json").lower()
    if chosen not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT={chosen!r}: expected one of {LOG_FORMATS}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter() if chosen == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
