"""The errors table of docs/decisions.md is complete and true: it names every RejectReason with its number, and
the REST proxy answers each row's gRPC code with the row's HTTP status, the reason in the body."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2

from exchange.v1 import common_pb2

from .conftest import Backend, HttpResponse

DECISIONS = Path(__file__).resolve().parents[2] / "docs/decisions.md"
ROW = re.compile(r"^\| ([A-Z0-9_]+) \| (\d+) \| ([A-Z_]+) \| (\d{3}) \|", re.MULTILINE)


def _table() -> list[tuple[str, int, str, int]]:
    section = DECISIONS.read_text().split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    return [(f"REJECT_REASON_{name}", int(number), code, int(http_status))
            for name, number, code, http_status in ROW.findall(section)]


TABLE = _table()


def test_table_names_every_reject_reason_once_with_its_number() -> None:
    documented = [(name, number) for name, number, _, _ in TABLE]
    proto = [(value.name, value.number) for value in common_pb2.RejectReason.DESCRIPTOR.values if value.number != 0]
    assert sorted(documented) == sorted(proto)
    assert len(documented) == len(set(documented))


@pytest.mark.parametrize(("reason", "number", "code", "http_status"), TABLE, ids=[row[0] for row in TABLE])
def test_proxy_answers_the_tables_http_status_for_each_reason(
    rest: Callable[..., HttpResponse], backend: Backend, reason: str, number: int, code: str, http_status: int
) -> None:
    backend.double.fail("TradingService/CancelOrder", grpc.StatusCode[code], f"refused: {reason}",
                        error_details_pb2.ErrorInfo(reason=reason, domain="exchange.v1"))

    response = rest("POST", "/v1/orders/cancel", {"symbol": "BTC_USDT", "order_id": "1"},
                    {"Authorization": "Bearer k"})

    assert response.status == http_status, response
    (info,) = [detail for detail in response.body["details"] if detail["@type"].endswith("ErrorInfo")]
    assert info == {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "exchange.v1",
                    "metadata": {}}
    assert response.body["message"] == f"refused: {reason}"
