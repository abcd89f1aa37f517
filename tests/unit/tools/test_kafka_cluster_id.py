"""The KRaft cluster id handed to Kafka's storage tool never starts with '-' (its parser would take it for an option:
a private broker of a crash drill failed to format once in 64 starts)."""

from __future__ import annotations

import base64
import uuid

import pytest

from tools.infra import kafka


def test_an_id_that_would_start_with_a_dash_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    dashed = uuid.UUID(bytes=bytes([0xF8]) + bytes(15))  # first six bits 62: '-' in URL-safe base64
    plain = uuid.UUID(bytes=bytes([0x10]) + bytes(15))
    draws = iter([dashed, plain])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(draws))
    assert base64.urlsafe_b64encode(dashed.bytes).startswith(b"-")

    assert kafka.cluster_id() == base64.urlsafe_b64encode(plain.bytes).rstrip(b"=").decode()


def test_ids_are_22_url_safe_characters_and_distinct() -> None:
    ids = {kafka.cluster_id() for _ in range(2_000)}
    assert len(ids) == 2_000
    assert all(len(value) == 22 and not value.startswith("-") for value in ids)
    assert all(set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") for value in ids)
