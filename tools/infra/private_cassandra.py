"""A private Cassandra node on free ports and its own directories: for the drill that kills the CQL server.

The shared node (`bin/stack infra up`, CQL port 9042) serves every engineer's tests on this machine; the CQL drill
SIGKILLs a node of its own instead:

    with private_cassandra(tmp_path) as node:      # started, waited until it answers on system.local
        ...  node.port ...                         # STACK_CQL_PORT of a private stack (contact point 127.0.0.1)
        node.kill()                                # SIGKILL
        node.start()                               # the same data: commit log replayed, keyspaces and rows survive
    # stopped (SIGTERM, SIGKILL after 30 s)

Same jars, JVM options and settings as the shared node (tools/infra/cassandra.py), with a smaller heap (HEAP:
the machine's memory is shared), its own native transport and storage ports (no JMX port, as the shared one), and
`commitlog_sync: batch` like the shared node: a write is acknowledged only once its commit log is synced. With
Cassandra's default periodic sync (every 10 s) a SIGKILLed node replays only the synced part of its commit log
and loses up to 10 s of writes it had acknowledged; with RF 1 no replica holds them, so the drill saw Settlement's
rows go missing (ledger events, engine outputs). In production the same guarantee comes from replication (RF 3,
LOCAL_QUORUM: an acknowledged write is on two nodes) or from batch sync; see docs/decisions.md.
"""

from __future__ import annotations

from pathlib import Path

from tools.infra import cassandra
from tools.infra.layout import restartable_ports
from tools.infra.private_server import PrivateServer

HEAP = "768M"  # enough for a drill's few thousand rows; the shared node has 1 GiB


class PrivateNode(PrivateServer):
    """One Cassandra node under `home` (conf/, data/, logs/, cassandra.log, cassandra.pid) on `port` (CQL)."""

    name = "cassandra"
    main_class = cassandra.MAIN_CLASS
    ready_deadline_s = 240.0  # as the shared node's: a busy machine slows Cassandra's start-up most

    def __init__(self, home: Path) -> None:
        super().__init__(home)
        self.port, self.storage_port = restartable_ports(2)

    def argv(self) -> list[str]:
        """cassandra.yaml under conf/, data under data/; the node's argv."""
        return cassandra.prepare_node(conf_dir=self.home / "conf", data=self.home / "data", log_dir=self.home / "logs",
                                      native_port=self.port, storage_port=self.storage_port, heap=HEAP)  # fmt: skip

    def ready(self) -> bool:
        """True once it answers a query on system.local."""
        return cassandra.probe_node(self.port)


def private_cassandra(home: Path) -> PrivateNode:
    """A private node under `home`: `with` starts it (waiting until it answers) and stops it afterwards."""
    return PrivateNode(home)
