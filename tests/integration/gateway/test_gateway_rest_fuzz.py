"""Fuzzing of the REST API from its OpenAPI document (schemathesis) against the real proxy in front of a real
gateway, UBSCore, matcher and Settlement on the real infrastructure.

Every operation of gen/openapi/exchange.swagger.json gets generated requests, valid (POSITIVE) and invalid
(NEGATIVE), each sent with a valid key holding every role, with no key, with a well-formed but unknown key, and
with the Authorization value schemathesis made up from the security scheme, if any. Properties: no 5xx ever (no
crash, no unmapped error); without a valid key nothing is admitted (never 2xx, never a code that means the key was
accepted: 403, 409, 429). The server-streaming operations are only sent without a valid key (with one they stream
until cut off). Bounded: EXAMPLES_MAX per operation and mode (about 1,800 requests, well under a minute here),
(derandomized) so a CI failure reproduces.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from gateway.app import Gateway

from ...contracts.conftest import OPENAPI_PATH, Proxy, start_proxy, stop_proxy
from ..settlement import conftest as settlement_fixtures
from ..ubscore.conftest import Stack
from .full_stack import start_full_stack

pytestmark = [
    pytest.mark.integration,
    # schemathesis' own strategies draw from `random` (its business); the warning is not about this test.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

settlement_factory = settlement_fixtures.settlement_factory

EXAMPLES_MAX = 12
REQUEST_TIMEOUT_S = 15
STREAMING_PATHS = frozenset({"/v1/stream", "/v1/account/stream"})
UNKNOWN_KEY = "exk_fuzz0000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
ADMITTED_ONLY = frozenset({403, 409, 429})  # codes that mean the key was accepted (role, state, its bucket)


@dataclass(frozen=True, slots=True)
class Target:
    """The proxy to fuzz and a key with every role."""

    base_url: str
    key: str


@pytest.fixture
def target(
    stack: Stack, keyspace: str, settlement_factory: Callable[..., settlement_fixtures.SettlementProcess],
    gateway_factory: Callable[..., Gateway], make_key: Callable[..., tuple[str, str]], proxy_binary: Path,
    tmp_path: Path,
) -> Iterator[Target]:
    """A full stack behind the real REST proxy."""
    key, key_id = make_key(1101, "read", "trade", "transfer")
    gateway = start_full_stack(stack, keyspace, settlement_factory, gateway_factory, [key_id])
    proxy: Proxy = start_proxy(proxy_binary, f"127.0.0.1:{gateway.port}", tmp_path / "rest.log")
    try:
        yield Target(base_url=proxy.base_url, key=key)
    finally:
        stop_proxy(proxy)


def operations() -> list[object]:
    """Every operation of the OpenAPI document (the document must load without errors)."""
    schema = schemathesis.openapi.from_path(OPENAPI_PATH)
    found = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        found.append(result.ok())
    assert len(found) >= 18, [operation.label for operation in found]
    return found


def fuzz_operation(
    operation: object, mode: GenerationMode, target: Target, failures: list[str], seen: Counter[tuple[str, int]]
) -> None:
    """Send EXAMPLES_MAX generated requests of one operation and mode, each with and without a valid key."""
    streaming = operation.path in STREAMING_PATHS  # type: ignore[attr-defined]

    @settings(max_examples=EXAMPLES_MAX, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))  # type: ignore[attr-defined]
    def check(case: schemathesis.Case) -> None:
        generated = dict(case.headers or {})
        plain = {name: value for name, value in generated.items() if name.lower() != "authorization"}
        sent: list[tuple[str, dict[str, str]]] = []
        if not streaming:
            sent.append(("valid key", {**plain, "Authorization": f"Bearer {target.key}"}))
        sent.extend([("no key", plain), ("unknown key", {**plain, "Authorization": f"Bearer {UNKNOWN_KEY}"})])
        if generated != plain:  # schemathesis made up an Authorization value from the security scheme
            sent.append(("generated key", generated))
        for label, headers in sent:
            case.headers = headers
            response = case.call(base_url=target.base_url, timeout=REQUEST_TIMEOUT_S)
            status = response.status_code
            seen[label, status] += 1
            problem = ""
            if status >= 500:
                problem = "5xx"
            elif label != "valid key" and (status < 400 or status in ADMITTED_ONLY):
                problem = "admitted without a valid key"
            if problem:
                failures.append(f"{problem}: {operation.label} {mode.value} {label} -> {status} "  # type: ignore[attr-defined]
                                f"{response.text[:300]!r}; request {case.path_parameters} {case.query} {case.body}")

    check()


def test_rest_api_fuzzed_from_its_openapi_document_never_fails_and_never_admits_without_a_key(
    target: Target,
) -> None:
    """No 5xx and no request admitted without a valid key, over every operation, valid and invalid inputs."""
    failures: list[str] = []
    seen: Counter[tuple[str, int]] = Counter()
    for operation in operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz_operation(operation, mode, target, failures, seen)
    print(sorted(seen.items()))
    assert not failures, "\n".join(failures[:30])
    # The fuzzing reached the services: valid-key requests were answered 200 and refused 4xx, and keyless ones 401.
    assert seen["valid key", 200] > 0
    assert seen["no key", 401] > 0
    assert seen["unknown key", 401] > 0
