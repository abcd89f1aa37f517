"""Settings read from the environment: one parser per type, shared by every service's config.py."""

from __future__ import annotations

from collections.abc import Mapping

from common.errors import ConfigInvalid


def env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    """`environ[name]` as an int, `default` when unset or empty; raise ConfigInvalid when it is not an integer."""
    text = environ.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError as error:
        raise ConfigInvalid(f"{name}={text!r}: not an integer") from error
