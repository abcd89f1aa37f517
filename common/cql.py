"""What every long-lived CQL session of the exchange (the gateway's, Settlement's) shares: how it finds a CQL
server again after an outage.

The driver's default, ExponentialReconnectionPolicy(1 s, 600 s), waits 1, 2, 4, ... up to 600 s (with jitter)
between attempts to reach a host it marked down, and while the host is marked down every request on the session
fails at once with NoHostAvailable ("Host has been marked down or removed") without trying it. In the CQL crash
drill (tests/e2e/test_crash_drills.py) the gateway found a server back from an 86 s outage only 39 s later, its
delays having grown to 56 s (the longer the outage, the longer the wait), and all that time its API key reloads
and reads kept failing (docs/decisions.md). So: try again every RECONNECT_DELAY_S, forever. An attempt is one
TCP connect per down host, cheap for the few hosts a cluster has.
"""

from __future__ import annotations

from cassandra.policies import ConstantReconnectionPolicy, ReconnectionPolicy

RECONNECT_DELAY_S = 0.5  # a restarted CQL server is found again within half a second


def reconnection_policy() -> ReconnectionPolicy:
    """The reconnection policy of every long-lived session: every RECONNECT_DELAY_S, no attempt limit."""
    return ConstantReconnectionPolicy(RECONNECT_DELAY_S, max_attempts=None)
