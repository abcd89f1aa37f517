"""Test-wide settings: a hypothesis profile for CI, where the 2-core machine is shared and timing is noisy; and a
fixture for tests that configure logging."""

import logging
import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

# No per-example deadline on CI (a slow example on a busy machine is not a bug), and print the reproduction blob of
# any failure so it can be replayed locally with @reproduce_failure.
settings.register_profile("ci", deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    """For a test that calls common.logs.configure (which replaces the root handlers): put pytest's back after it,
    so later tests log as before."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
