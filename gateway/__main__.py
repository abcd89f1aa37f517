"""`python -m gateway`: build the gateway from GATEWAY_* settings and serve until SIGTERM/SIGINT."""

if not __debug__:  # first lines of every service: assertions guard the invariants
    raise SystemExit("assertions are disabled (python -O); refusing to start")

import logging
import os
import signal
import threading
from types import FrameType

from common import logs, tracing
from gateway.app import build_gateway
from gateway.config import GatewayConfig

log = logging.getLogger("gateway")


def main() -> int:
    """Build, start, wait for a signal, stop; exit 0 on a clean stop."""
    config = GatewayConfig.from_env(os.environ)
    logs.configure(config.log_level)
    tracing.configure("gateway")  # export only with OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_TRACES_EXPORTER=console
    gateway = build_gateway(config)
    if config.metrics_port:
        gateway.metrics.serve(config.metrics_port)
    stop_requested = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    gateway.start()
    stop_requested.wait()
    gateway.stop()
    log.info("gateway stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
