"""Bounded quoting of values in error messages: a refusal never echoes a client's input at full length.

A gRPC status travels in trailing metadata (grpc-message, grpc-status-details-bin), which clients cap at 8-16 KB:
a message echoing a 100 KB quantity would turn an INVALID_ARGUMENT into the client's own RESOURCE_EXHAUSTED, and
over REST it would send the 100 KB back. Every message that names a client's value goes through `quoted`; every
text of a status goes through `shortened` once more when the status is built (gateway.status).
"""

from __future__ import annotations

ECHO_CHARS_MAX = 64  # of a client's value quoted in a message


def shortened(text: str, limit: int = ECHO_CHARS_MAX) -> str:
    """`text` if at most `limit` characters, else its first `limit` then "… (N characters)"."""
    assert limit > 0, limit
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


def quoted(value: object, limit: int = ECHO_CHARS_MAX) -> str:
    """repr(value) for a message, at most about `limit` characters of it: 'AAAA…'… (5000000 characters).

    A string whose repr is longer keeps as many first characters as fit `limit` once escaped (a '\\x00' counts 4),
    quoted, then its length; anything else shows its repr shortened. So the result stays below `limit` + 40
    characters whatever the input.
    """
    if not isinstance(value, str):
        return shortened(repr(value), limit)
    kept = width = 0
    for char in value[:limit]:
        width += len(repr(char)) - 2 + (char == "'")  # as repr writes it inside quotes (\\' with a " around)
        if width > limit:
            break
        kept += 1
    if kept == len(value):
        return repr(value)
    return f"{value[:kept]!r}… ({len(value)} characters)"
