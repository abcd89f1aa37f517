"""A private Kafka broker (KRaft, one node) on free ports and its own directories: for drills that kill a broker.

The shared broker (`bin/stack infra up`, port 9092) serves every engineer's tests on this machine; a drill that
SIGKILLs Kafka kills its own broker instead:

    with private_kafka(tmp_path) as broker:        # started, waited until it answers metadata requests
        ...  broker.bootstrap ...                  # e.g. STACK_KAFKA_BOOTSTRAP of a private stack
        broker.kill()                              # SIGKILL
        broker.start()                             # the same data directory: topics and offsets survive
    # stopped (SIGTERM, SIGKILL after 30 s)

Same jars, JVM options and settings as the shared broker (tools/infra/kafka.py), 4 partitions per topic.
"""

from __future__ import annotations

from pathlib import Path

from tools.infra import kafka
from tools.infra.layout import HOST, restartable_ports
from tools.infra.private_server import PrivateServer


class PrivateBroker(PrivateServer):
    """One broker process under `home` (conf/, data/, kafka.log, kafka.pid) on `port`."""

    name = "kafka"
    main_class = kafka.MAIN_CLASS

    def __init__(self, home: Path) -> None:
        super().__init__(home)
        self.port, self.controller_port = restartable_ports(2)
        self.bootstrap = f"{HOST}:{self.port}"

    def argv(self) -> list[str]:
        """server.properties under conf/, storage formatted under data/ the first time; the broker's argv."""
        return kafka.prepare_broker(conf_dir=self.home / "conf", log_dir=self.home / "data", log_file=self.log_file,
                                    port=self.port, controller_port=self.controller_port)  # fmt: skip

    def ready(self) -> bool:
        """True once it answers a metadata request."""
        return kafka.probe_broker(self.port)


def private_kafka(home: Path) -> PrivateBroker:
    """A private broker under `home`: `with` starts it (waiting until it answers) and stops it afterwards."""
    return PrivateBroker(home)
