"""Aeron IPC benchmark: the Python client (common.aeron) side by side with Aeron's Java samples, same driver.

    .venv/bin/python -m tools.bench.aeron_bench [--round-trips 20000] [--messages 300000]

Starts its own media driver (under /dev/shm), then for 32- and 256-byte messages over `aeron:ipc`:
- Python throughput: this process publishes (`offer`, then `offer_batch`), a child Python process subscribes
  and counts; messages/s end to end (slowest side), best of PYTHON_THROUGHPUT_RUNS.
- Java throughput: io.aeron.samples.StreamingPublisher -> RateSubscriber; the second (JIT-warm) round is timed.
- Python round trip: ping here, pong in a child process, both busy-polling; p50/p99/p99.9 in microseconds.
- Java round trip: io.aeron.samples.Ping/Pong (HdrHistogram output parsed).
Prints a table with Java/Python ratios, writes bench-results/aeron.json and bench-results/aeron.png.
Not a test: numbers depend on the machine and on what else runs on it (note the load average printed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from common.aeron.client import AeronClient, ClientConfig
from common.aeron.driver import MediaDriverProcess, java_command
from common.aeron.publication import ExclusivePublication

IPC = "aeron:ipc"
PING_STREAM = 9101
PONG_STREAM = 9102
THROUGHPUT_STREAM = 9103
JAVA_STREAM_OFFSET = 5000
#: Best of this many Python throughput runs (Java, for its part, is timed on its second, JIT-warm round).
PYTHON_THROUGHPUT_RUNS = 2
#: Round trips before measuring (Java's Ping warms up with 3 x 10_000).
PYTHON_WARMUP_ROUND_TRIPS = 10_000
MESSAGE_SIZES = (32, 256)
RESULTS_DIR = Path(__file__).resolve().parents[2] / "bench-results"
DO_WORK_EVERY = 1024
CHILD_TIMEOUT_S = 120.0


@dataclass(slots=True, kw_only=True)
class Row:
    """One benchmark result row."""

    implementation: str
    message_bytes: int
    throughput_msgs_per_s: float
    rtt_us_p50: float
    rtt_us_p99: float
    rtt_us_p999: float


_RUNS = [0]


def _next_run() -> int:
    """A fresh stream id offset per run: a finished run's publication lingers in the driver for a while."""
    _RUNS[0] += 1
    return _RUNS[0]


def _client(aeron_dir: str) -> AeronClient:
    return AeronClient(ClientConfig(aeron_dir=aeron_dir, driver_timeout_ms=10_000, keepalive_interval_ms=500,
                                    connect_timeout_ms=10_000))


# -- child roles -------------------------------------------------------------------------------------------------
def run_pong(aeron_dir: str, stream_offset: int) -> None:
    """Echo every ping back until killed."""
    with _client(aeron_dir) as client:
        subscription = client.add_subscription(IPC, PING_STREAM + stream_offset)
        publication = client.add_exclusive_publication(IPC, PONG_STREAM + stream_offset)
        offer = publication.offer

        def echo(payload: memoryview, header: object) -> None:
            for attempt in range(1_000_000_000):
                if offer(payload) > 0:
                    return
                if attempt % DO_WORK_EVERY == DO_WORK_EVERY - 1:
                    client.do_work()  # raises if the driver or this client is gone, instead of spinning forever
            raise TimeoutError("pong: offer never accepted")

        parent = os.getppid()
        idle = 0
        while True:
            if subscription.poll(echo, 10) == 0:
                idle += 1
                if idle >= DO_WORK_EVERY:
                    client.do_work()
                    idle = 0
                    if os.getppid() != parent:
                        return  # the benchmark died: do not linger


def run_sink(aeron_dir: str, messages: int, stream_offset: int) -> None:
    """Count `messages` messages, then print {"count", "elapsed_ns"} (first to last message) as JSON."""
    with _client(aeron_dir) as client:
        subscription = client.add_subscription(IPC, THROUGHPUT_STREAM + stream_offset)
        count = 0

        def on_message(payload: memoryview, header: object) -> None:
            nonlocal count
            count += 1

        first_ns = 0
        loops = 0
        parent = os.getppid()
        while count < messages:
            if subscription.poll(on_message, 1024) and not first_ns:
                first_ns = time.perf_counter_ns()
            loops += 1
            if loops % DO_WORK_EVERY == 0:
                client.do_work()
                if os.getppid() != parent:
                    return
        print(json.dumps({"count": count, "elapsed_ns": time.perf_counter_ns() - first_ns}), flush=True)


def _spawn_child(role: str, aeron_dir: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tools.bench.aeron_bench", "--role", role, "--aeron-dir",
                             aeron_dir, *extra], stdout=subprocess.PIPE, text=True, start_new_session=True)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(CHILD_TIMEOUT_S)


# -- Python measurements -----------------------------------------------------------------------------------------
def python_throughput(aeron_dir: str, message_bytes: int, messages: int, *, batch: bool) -> float:
    """Messages per second from this process to a child subscriber (the slower side's rate)."""
    stream_offset = message_bytes * 10 + batch + 2 * _next_run()
    sink = _spawn_child("sink", aeron_dir, "--messages", str(messages), "--stream-offset", str(stream_offset))
    try:
        with _client(aeron_dir) as client:
            publication = client.add_exclusive_publication(IPC, THROUGHPUT_STREAM + stream_offset)
            publication.wait_connected(timeout_ms=10_000)
            payload = b"m" * message_bytes
            started_ns = time.perf_counter_ns()
            sent = _publish_batches(client, publication, payload, messages) if batch else _publish_each(
                client, publication, payload, messages)
            publisher_ns = time.perf_counter_ns() - started_ns
            output, _ = sink.communicate(timeout=CHILD_TIMEOUT_S)
            result = json.loads(output)
            assert result["count"] == sent == messages, (result, sent)
            return messages / (max(publisher_ns, result["elapsed_ns"]) / 1e9)
    finally:
        _stop(sink)


def _publish_each(client: AeronClient, publication: ExclusivePublication, payload: bytes, messages: int) -> int:
    offer = publication.offer
    sent = 0
    failures = 0
    while sent < messages:
        if offer(payload) > 0:
            sent += 1
        else:
            failures += 1
            if failures % DO_WORK_EVERY == 0:
                client.do_work()
    return sent


def _publish_batches(client: AeronClient, publication: ExclusivePublication, payload: bytes, messages: int) -> int:
    batch = [payload] * 256
    sent = 0
    failures = 0
    while sent < messages:
        result = publication.offer_batch(batch[: min(len(batch), messages - sent)])
        if result > 0:
            sent += result
        else:
            failures += 1
            if failures % DO_WORK_EVERY == 0:
                client.do_work()
    return sent


def python_round_trips(aeron_dir: str, message_bytes: int, round_trips: int, warmup: int) -> list[int]:
    """Round-trip times (ns) of ping (here) -> pong (child) -> ping, one message in flight."""
    # Streams per message size: a killed pong's publication lingers in the driver until its client times out.
    pong = _spawn_child("pong", aeron_dir, "--stream-offset", str(message_bytes * 10))
    try:
        with _client(aeron_dir) as client:
            subscription = client.add_subscription(IPC, PONG_STREAM + message_bytes * 10)
            publication = client.add_exclusive_publication(IPC, PING_STREAM + message_bytes * 10)
            publication.wait_connected(timeout_ms=10_000)
            subscription.wait_connected(timeout_ms=10_000)
            received = [0]

            def on_pong(payload: memoryview, header: object) -> None:
                received[0] += 1

            payload = b"p" * message_bytes
            offer, poll, clock = publication.offer, subscription.poll, time.perf_counter_ns
            samples: list[int] = []
            deadline_ns = clock() + int(CHILD_TIMEOUT_S * 1e9)
            for index in range(warmup + round_trips):
                expected = received[0] + 1
                started_ns = clock()
                while offer(payload) < 0:
                    assert clock() < deadline_ns, "ping: offer never accepted"
                empty_polls = 0
                while received[0] < expected:
                    if poll(on_pong, 1) == 0:
                        empty_polls += 1
                        if empty_polls % DO_WORK_EVERY == 0:
                            # Images arrive through do_work: a pong whose image is not yet added looks silent.
                            client.do_work()
                            if clock() > deadline_ns:
                                raise TimeoutError(f"no pong after {index} round trips")
                if index >= warmup:
                    samples.append(clock() - started_ns)
                if index % DO_WORK_EVERY == 0:
                    client.do_work()
            return samples
    finally:
        _stop(pong)


def percentile_us(samples_ns: list[int], fraction: float) -> float:
    """Nearest-rank percentile of nanosecond samples, in microseconds."""
    ordered = sorted(samples_ns)
    rank = min(len(ordered) - 1, max(0, int(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank] / 1000


# -- Java measurements -------------------------------------------------------------------------------------------
def _java(classpath: str, aeron_dir: str, sample: str, stdin_text: str | None, **properties: str
          ) -> subprocess.Popen[str]:
    props = {"aeron.dir": aeron_dir, **properties}
    process = subprocess.Popen(java_command(classpath, f"io.aeron.samples.{sample}", props), text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    assert process.stdin is not None
    if stdin_text is not None:
        process.stdin.write(stdin_text)
        process.stdin.flush()
    return process


def java_throughput(classpath: str, aeron_dir: str, message_bytes: int, messages: int) -> float:
    """StreamingPublisher -> RateSubscriber over IPC, streamed twice (answering 'y' then 'n' to "Execute again?");
    the second, JIT-warm round is timed from its 'Streaming' line to its 'Done streaming' line."""
    stream_id = THROUGHPUT_STREAM + JAVA_STREAM_OFFSET + message_bytes * 10
    stream = {"aeron.sample.channel": IPC, "aeron.sample.streamId": str(stream_id)}
    subscriber = _java(classpath, aeron_dir, "RateSubscriber", None, **stream)
    publisher = _java(classpath, aeron_dir, "StreamingPublisher", "y\nn\n", **stream,
                      **{"aeron.sample.messages": str(messages), "aeron.sample.messageLength": str(message_bytes)})
    try:
        assert publisher.stdout is not None
        started_ns = 0
        rounds_done = 0
        for line in publisher.stdout:
            if "Streaming" in line:
                started_ns = time.perf_counter_ns()
            elif "Done streaming" in line:
                rounds_done += 1
                if rounds_done == 2:
                    return messages / ((time.perf_counter_ns() - started_ns) / 1e9)
        raise RuntimeError("StreamingPublisher ended before its second round")
    finally:
        _stop(publisher)
        _stop(subscriber)


def java_round_trips(classpath: str, aeron_dir: str, message_bytes: int, round_trips: int) -> dict[float, float]:
    """Ping/Pong over IPC; the percentiles (µs) parsed from Ping's HdrHistogram output."""
    channels = {"aeron.sample.ping.channel": IPC, "aeron.sample.pong.channel": IPC,
                "aeron.sample.ping.streamId": str(PING_STREAM + JAVA_STREAM_OFFSET + message_bytes * 10),
                "aeron.sample.pong.streamId": str(PONG_STREAM + JAVA_STREAM_OFFSET + message_bytes * 10)}
    pong = _java(classpath, aeron_dir, "Pong", None, **channels)
    ping = _java(classpath, aeron_dir, "Ping", "n\n", **channels,
                 **{"aeron.sample.messages": str(round_trips), "aeron.sample.messageLength": str(message_bytes),
                    "aeron.sample.warmup.iterations": "3", "aeron.sample.warmup.messages": "10000"})
    try:
        output, _ = ping.communicate(timeout=CHILD_TIMEOUT_S)
    finally:
        _stop(ping)
        _stop(pong)
    rows: list[tuple[float, float]] = []
    for line in output.splitlines():
        fields = line.split()
        if len(fields) == 4 and not line.lstrip().startswith("#"):
            try:
                rows.append((float(fields[1]), float(fields[0])))
            except ValueError:
                continue
    assert rows, output
    return {target: next((value for fraction, value in rows if fraction >= target), rows[-1][1])
            for target in (0.5, 0.99, 0.999)}


# -- report ------------------------------------------------------------------------------------------------------
def print_table(rows: list[Row]) -> None:
    """The results and the Java/Python ratios."""
    print(f"{'implementation':<22}{'bytes':>6}{'msgs/s':>14}{'p50 us':>10}{'p99 us':>10}{'p99.9 us':>10}")
    for row in rows:
        # offer_batch is a throughput-only row (no round trip measured): show a dash, not a zero latency.
        latencies = (row.rtt_us_p50, row.rtt_us_p99, row.rtt_us_p999)
        cells = "".join(f"{value:>10.1f}" if row.rtt_us_p50 else f"{'-':>10}" for value in latencies)
        print(f"{row.implementation:<22}{row.message_bytes:>6}{row.throughput_msgs_per_s:>14,.0f}{cells}")
    for size in MESSAGE_SIZES:
        by_name = {row.implementation: row for row in rows if row.message_bytes == size}
        java = by_name["java"]
        for name in ("python offer", "python offer_batch"):
            python = by_name[name]
            ratio = java.throughput_msgs_per_s / python.throughput_msgs_per_s
            latency = f", rtt p99 python/java x{python.rtt_us_p99 / java.rtt_us_p99:.1f}" if python.rtt_us_p99 else ""
            print(f"{size:>4} B  {name}: throughput java/python x{ratio:.1f}{latency}")


def plot(rows: list[Row], path: Path) -> None:
    """Bar chart of round-trip percentiles per implementation and size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    latency_rows = [row for row in rows if row.rtt_us_p50 > 0]
    labels = [f"{row.implementation.replace(' offer', '')}\n{row.message_bytes} B" for row in latency_rows]
    figure, axes = plt.subplots(figsize=(8, 4.5))
    width = 0.27
    for offset, (name, attribute) in enumerate((("p50", "rtt_us_p50"), ("p99", "rtt_us_p99"),
                                                ("p99.9", "rtt_us_p999"))):
        axes.bar([index + (offset - 1) * width for index in range(len(latency_rows))],
                 [getattr(row, attribute) for row in latency_rows], width, label=name)
    axes.set_xticks(range(len(latency_rows)), labels)
    axes.set_yscale("log")
    axes.set_ylabel("round trip (µs, log scale)")
    axes.set_title("Aeron IPC ping/pong round trip: Python client vs Java client")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def run_benchmark(args: argparse.Namespace) -> None:
    """Start a driver, measure everything, report."""
    from tools.infra.artifacts import classpath as artifact_classpath

    classpath = artifact_classpath("aeron")
    aeron_dir = f"/dev/shm/aeron-bench-{os.getpid()}"
    driver = MediaDriverProcess(classpath=classpath, aeron_dir=aeron_dir,
                                properties={"aeron.ipc.term.buffer.length": str(16 * 1024 * 1024),
                                            # page faults on first touch of a log page are not the client's cost
                                            "aeron.pre.touch.mapped.memory": "true"})
    driver.start()
    rows: list[Row] = []
    try:
        for size in MESSAGE_SIZES:
            samples = python_round_trips(aeron_dir, size, args.round_trips, PYTHON_WARMUP_ROUND_TRIPS)
            p50, p99, p999 = (percentile_us(samples, fraction) for fraction in (0.5, 0.99, 0.999))
            rows.append(Row(implementation="python offer", message_bytes=size,
                            throughput_msgs_per_s=max(python_throughput(aeron_dir, size, args.messages, batch=False)
                                                      for _ in range(PYTHON_THROUGHPUT_RUNS)),
                            rtt_us_p50=p50, rtt_us_p99=p99, rtt_us_p999=p999))
            rows.append(Row(implementation="python offer_batch", message_bytes=size,
                            throughput_msgs_per_s=max(python_throughput(aeron_dir, size, args.messages * 4, batch=True)
                                                      for _ in range(PYTHON_THROUGHPUT_RUNS)),
                            rtt_us_p50=0.0, rtt_us_p99=0.0, rtt_us_p999=0.0))
            java_rtt = java_round_trips(classpath, aeron_dir, size, args.java_round_trips)
            rows.append(Row(implementation="java", message_bytes=size,
                            throughput_msgs_per_s=java_throughput(classpath, aeron_dir, size, args.java_messages),
                            rtt_us_p50=java_rtt[0.5], rtt_us_p99=java_rtt[0.99], rtt_us_p999=java_rtt[0.999]))
    finally:
        driver.stop()
        shutil.rmtree(aeron_dir, ignore_errors=True)
    print(f"load average before/after: {args.load_before} / {os.getloadavg()}  cpus: {os.cpu_count()}")
    print_table(rows)
    RESULTS_DIR.mkdir(exist_ok=True)
    report = {"rows": [asdict(row) for row in rows], "load_average_before": args.load_before,
              "load_average_after": os.getloadavg(), "cpus": os.cpu_count(),
              "round_trips": args.round_trips, "messages": args.messages,
              "java_round_trips": args.java_round_trips, "java_messages": args.java_messages}
    (RESULTS_DIR / "aeron.json").write_text(json.dumps(report, indent=2))
    plot(rows, RESULTS_DIR / "aeron.png")
    print(f"wrote {RESULTS_DIR / 'aeron.json'} and {RESULTS_DIR / 'aeron.png'}")


def main() -> None:
    """CLI entry point (also used for the child roles)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=("bench", "pong", "sink"), default="bench")
    parser.add_argument("--aeron-dir", default="")
    parser.add_argument("--messages", type=int, default=300_000, help="Python throughput messages (x4 for batch)")
    parser.add_argument("--round-trips", type=int, default=20_000, help="Python ping/pong round trips")
    parser.add_argument("--stream-offset", type=int, default=0, help="added to the ping/pong stream ids")
    parser.add_argument("--java-messages", type=int, default=20_000_000)
    parser.add_argument("--java-round-trips", type=int, default=200_000)
    args = parser.parse_args()
    if args.role == "pong":
        run_pong(args.aeron_dir, args.stream_offset)
    elif args.role == "sink":
        run_sink(args.aeron_dir, args.messages, args.stream_offset)
    else:
        # SIGTERM (e.g. from `timeout`) unwinds through the finally blocks that stop the driver and children.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))
        args.load_before = os.getloadavg()
        run_benchmark(args)


if __name__ == "__main__":
    main()
