"""Test-wide settings: a hypothesis profile for CI, where the 2-core machine is shared and timing is noisy."""

import os

from hypothesis import settings

# No per-example deadline on CI (a slow example on a busy machine is not a bug), and print the reproduction blob of
# any failure so it can be replayed locally with @reproduce_failure.
settings.register_profile("ci", deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")
