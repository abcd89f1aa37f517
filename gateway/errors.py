"""Errors of the gateway (operating errors, not bugs: bugs are assertions).

    ExchangeError (common.errors)
    └── Refused            a request refused with a RejectReason, optional field violations and a retry hint

A `Refused` raised anywhere under a gRPC method (validation, auth, rate limit, a servicer) is turned into a gRPC
status with machine-readable details by the one table in `gateway.status`; so are the shared errors of
`common.errors` and `common.aeron.errors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from common.errors import ExchangeError


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldViolation:
    """One bad request field: its name (proto field path), the RejectReason number, and a sentence for people."""

    field: str
    reason: int  # an exchange.v1.RejectReason number
    description: str


class Refused(ExchangeError):
    """The request is refused with `reason` (an exchange.v1.RejectReason number); see gateway.status for codes."""

    def __init__(
        self,
        reason: int,
        message: str,
        *,
        violations: tuple[FieldViolation, ...] = (),
        retry_after_ms: int = 0,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        assert retry_after_ms >= 0, retry_after_ms
        self.reason = reason
        self.message = message
        self.violations = violations
        self.retry_after_ms = retry_after_ms  # > 0: the client may retry after this long (RetryInfo)
        self.metadata = dict(metadata or {})

    @classmethod
    def from_violations(cls, violations: list[FieldViolation]) -> Refused:
        """One refusal carrying every field violation; its reason is the first violation's."""
        assert violations, "a refusal from violations needs at least one"
        first = violations[0]
        message = "; ".join(f"{v.field}: {v.description}" for v in violations)
        return cls(first.reason, message, violations=tuple(violations), metadata={"field": first.field})
