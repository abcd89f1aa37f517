"""The services layer of the stack runner against real processes: the matcher (on the real Kafka) and the REST proxy.

Each test runs its own stack: a temp STACK_HOME (logs, pids, state), free ports, private topics
(STACK_TOPIC_SUFFIX), and the shared Kafka, CQL and Aeron declared external, so the runner never starts or stops
the shared infrastructure. Only `matcher-0` and `rest` are selected, so services landing later do not change
what these tests start.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import random
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from common.kafka import delete_topic
from settlement.cql import drop_keyspace
from tools.infra import process
from tools.infra.errors import PortBusy
from tools.infra.kafka import TOPICS
from tools.services import lifecycle
from tools.services.catalog import REST_BINARY, build_specs
from tools.services.runner import ServiceRunner
from tools.stack_config import StackConfig, from_env

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
SELECTED = ["matcher-0", "rest"]
RUN_DEADLINE_S = 90.0
AERON_PRIVATE_STREAM_MIN = 100_000  # above every stream id the stack and the Aeron tests use
AERON_PRIVATE_STREAM_MAX = 1_000_000
STOP_DEADLINE_S = 60.0


def eventually(condition: Callable[[], bool], *, timeout_ms: int = 30_000, poll_ms: int = 50) -> None:
    """Wait until `condition()` is true; fail after `timeout_ms`."""
    deadline_ns = time.monotonic_ns() + timeout_ms * 1_000_000
    while not condition():
        if time.monotonic_ns() > deadline_ns:
            raise AssertionError(f"not true within {timeout_ms} ms: {condition}")
        time.sleep(poll_ms / 1_000)


@pytest.fixture
def stack_env(kafka_bootstrap: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """STACK_* settings of a private stack; afterwards every service it started is stopped and its topics deleted."""
    if not REST_BINARY.exists():
        pytest.fail(f"{REST_BINARY} is missing: run `make setup`", pytrace=False)
    token = uuid.uuid4().hex[:12]
    suffix = f".test.{token}"
    streams = random.Random(token).sample(range(AERON_PRIVATE_STREAM_MIN, AERON_PRIVATE_STREAM_MAX), 2)
    env = {"STACK_HOME": str(tmp_path / "stack"), "STACK_FREE_PORTS": "1", "STACK_TOPIC_SUFFIX": suffix,
           "STACK_KAFKA_BOOTSTRAP": kafka_bootstrap, "STACK_CQL_CONTACT_POINTS": "127.0.0.1",
           "STACK_CQL_KEYSPACE": f"stack_test_{token}", "STACK_AERON_EXTERNAL": "1",
           "STACK_AERON_STREAM_ID": str(streams[0]), "STACK_AERON_RESPONSE_STREAM_ID": str(streams[1])}
    yield env
    saved = StackConfig.load(Path(env["STACK_HOME"]))
    if saved is not None:
        lifecycle.down(saved, out=lambda line: None)
    for name in TOPICS:
        try:
            delete_topic(kafka_bootstrap, f"{name}{suffix}")
        except Exception as error:  # a test that failed before `up` created no topic
            print(f"topic {name}{suffix} not deleted: {error}")


def _service_pids(config: StackConfig) -> dict[str, int]:
    """Pid of every process the runner recorded (services and their supervisors), by file name."""
    pids = {}
    for pid_file in config.run_dir.glob("*.pid"):
        record = process.read_pid_file(pid_file)
        if record is not None:
            pids[pid_file.stem] = record.pid
    return pids


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]


def test_up_starts_matcher_and_rest_healthy_a_killed_one_shows_crashed_and_down_stops_all(
    stack_env: dict[str, str],
) -> None:
    """Start matcher-0 and rest through the runner; status shows both healthy (with the matcher's lag); SIGKILL the
    matcher: status shows it CRASHED (killed by SIGKILL) and it stays down while rest keeps running; a second `up`
    of rest alone keeps its pid; `down` stops every process the runner started."""
    config = from_env(stack_env)
    lines: list[str] = []
    runner = lifecycle.up(config, SELECTED, out=lines.append)

    rows = {row.name: row for row in runner.status(SELECTED)}
    assert rows["matcher-0"].running
    assert rows["matcher-0"].health is not None
    assert rows["matcher-0"].health.ok
    # matcher_consumer_lag_records, summed over its partitions, once its first poll has set it
    eventually(lambda: runner.status(["matcher-0"])[0].lag == "0 records")
    assert rows["rest"].running
    assert rows["rest"].health is not None
    assert rows["rest"].health.ok
    assert rows["rest"].health.detail == "HTTP 503"  # /healthz answers; no gateway behind it yet
    assert "endpoints:" in lifecycle.endpoints_text(runner)

    matcher_pid = rows["matcher-0"].pid
    rest_pid = rows["rest"].pid
    assert matcher_pid is not None
    assert rest_pid is not None
    os.kill(matcher_pid, signal.SIGKILL)
    eventually(lambda: runner.status(["matcher-0"])[0].crashed)
    [crashed] = runner.status(["matcher-0"])
    assert crashed.state == "CRASHED (killed by SIGKILL)"
    assert not crashed.running
    assert crashed.pid is None
    cli = subprocess.run([str(REPO_ROOT / "bin" / "stack"), "status"], env={**os.environ, **stack_env},
                         capture_output=True, text=True, timeout=60, check=False)
    assert cli.returncode == 3, cli.stdout + cli.stderr  # not everything is healthy
    assert "CRASHED (killed by SIGKILL)" in cli.stdout
    assert not runner.is_running("matcher-0")  # status never restarts anything
    assert runner.status(["rest"])[0].pid == rest_pid

    again: list[str] = []
    lifecycle.up(config, ["rest"], out=again.append)
    assert any("already running" in line for line in again), again
    assert runner.status(["rest"])[0].pid == rest_pid

    recorded = _service_pids(config)
    assert set(recorded) >= {"rest", "rest.supervisor"}
    lifecycle.down(config, out=lines.append)
    assert not any(_alive(pid) for pid in recorded.values()), recorded
    after = {row.name: row for row in ServiceRunner(config, runner.specs.values()).status(SELECTED)}
    assert after["rest"].state == "stopped (exit 0)"
    assert after["matcher-0"].state == "CRASHED (killed by SIGKILL)"  # down does not hide an earlier crash


def test_up_refuses_to_start_a_service_whose_health_port_someone_else_answers(stack_env: dict[str, str]) -> None:
    """If the matcher's metrics port already answers before the runner starts it, `up` fails (PortBusy) instead of
    taking the other process for a healthy matcher."""
    first = from_env(stack_env)
    lifecycle.up(first, ["matcher-0"], out=lambda line: None)
    intruder_home = Path(stack_env["STACK_HOME"]).with_name("intruder")
    second = dataclasses.replace(first, home=intruder_home)  # same ports, another runner's files
    with pytest.raises(PortBusy, match="already answers its health probe"):
        lifecycle.up(second, ["matcher-0"], out=lambda line: None)
    lifecycle.down(second, out=lambda line: None)


def _read_lines(stream, sink: queue.Queue[str]) -> None:  # stream: the child's stdout (text)
    for line in stream:
        sink.put(line.rstrip("\n"))
    sink.put("<EOF>")


class Foreground:
    """`bin/stack run matcher-0 rest` as a child started with SIGINT ignored (as `make run &` from a script or a CI
    runner starts it), its output lines read on a thread into `seen`."""

    def __init__(self, stack_env: dict[str, str]) -> None:
        self.child = subprocess.Popen([str(REPO_ROOT / "bin" / "stack"), "run", *SELECTED],
                                      env={**os.environ, **stack_env}, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True,
                                      preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))  # fmt: skip
        self.output: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=_read_lines, args=(self.child.stdout, self.output), daemon=True)
        self.reader.start()
        self.seen: list[str] = []

    def wait_for(self, condition: Callable[[list[str]], bool]) -> bool:
        """Read output lines into `seen` until `condition(seen)` holds; False at EOF or after the deadline."""
        deadline_s = time.monotonic() + RUN_DEADLINE_S
        while not condition(self.seen):
            if time.monotonic() > deadline_s or self.seen[-1:] == ["<EOF>"]:
                return False
            try:
                self.seen.append(self.output.get(timeout=1.0))
            except queue.Empty:
                continue
        return True

    def saw(self, prefix: str, text: str) -> bool:
        """Wait for a line starting with `prefix` that contains `text`."""
        return self.wait_for(lambda lines: any(line.startswith(prefix) and text in line for line in lines))

    def interrupt(self) -> int:
        """SIGINT (Ctrl-C); the exit code once the run has stopped and its output ended."""
        try:
            self.child.send_signal(signal.SIGINT)
            return self.child.wait(timeout=STOP_DEADLINE_S)
        finally:
            if self.child.poll() is None:
                self.child.kill()
                self.child.wait()
            self.reader.join(timeout=STOP_DEADLINE_S)
            assert self.wait_for(lambda lines: lines[-1:] == ["<EOF>"])


def test_run_in_foreground_prefixes_lines_reports_a_crash_and_sigint_stops_all(
    stack_env: dict[str, str],
) -> None:
    """`bin/stack run matcher-0 rest`: the services' own log lines arrive prefixed `matcher-0 | ` and `rest | `; a
    SIGKILLed matcher is reported once and not restarted; SIGINT stops the rest and the command exits 0, even
    started with SIGINT ignored."""
    run = Foreground(stack_env)
    try:
        assert run.saw("stack     | ", "streaming every log"), "\n".join(run.seen)
        assert run.saw("rest      | ", "REST proxy listening on"), "\n".join(run.seen)
        assert run.saw("matcher-0 | ", "matcher shard 0 ready"), "\n".join(run.seen)
        config = StackConfig.load(Path(stack_env["STACK_HOME"]))
        assert config is not None
        pids = _service_pids(config)
        assert set(pids) == {"matcher-0", "matcher-0.supervisor", "rest", "rest.supervisor"}
        os.kill(pids["matcher-0"], signal.SIGKILL)
        assert run.saw("stack     | ", "matcher-0 CRASHED (killed by SIGKILL); not restarted"), "\n".join(run.seen)
    finally:
        code = run.interrupt()
    assert code == 0
    assert any(line.startswith("rest      | ") and "exited with code 0" in line for line in run.seen), run.seen
    assert not any(_alive(pid) for pid in pids.values()), pids
    states = {row.name: row.state for row in ServiceRunner(config, build_specs(config)).status(SELECTED)}
    assert states == {"matcher-0": "CRASHED (killed by SIGKILL)", "rest": "stopped (exit 0)"}


def test_run_stops_only_what_it_started(stack_env: dict[str, str]) -> None:
    """With rest already up, `bin/stack run matcher-0 rest` starts only the matcher, and Ctrl-C stops only it: rest
    keeps running with the same pid (tools/README.md: what ran before the run is left running)."""
    config = from_env(stack_env)
    runner = lifecycle.up(config, ["rest"], out=lambda line: None)
    [rest_before] = runner.status(["rest"])
    assert rest_before.running
    run = Foreground(stack_env)
    try:
        assert run.saw("matcher-0 | ", "matcher shard 0 ready"), "\n".join(run.seen)
    finally:
        code = run.interrupt()
    assert code == 0
    assert any("left running (they were up before this run): rest" in line for line in run.seen), run.seen
    rows = {row.name: row for row in runner.status(SELECTED)}
    assert (rows["rest"].running, rows["rest"].pid) == (True, rest_before.pid)
    assert rows["matcher-0"].state == "stopped (exit 0)"
    lifecycle.down(config, out=lambda line: None)


def test_two_matcher_shards_own_alternate_partitions_on_their_own_ports(stack_env: dict[str, str]) -> None:
    """--matcher-shards 2: both shards healthy, each on its own metrics port, shard 0 consuming partitions 0 and 2
    and shard 1 partitions 1 and 3 of the (private) orders topic, as their logs state."""
    config = from_env(stack_env, matcher_shards=2)
    runner = lifecycle.up(config, ["matcher-0", "matcher-1"], out=lambda line: None)
    rows = runner.status(["matcher-0", "matcher-1"])
    assert [row.health.ok if row.health else None for row in rows] == [True, True]
    assert config.ports.matcher_metrics[0] != config.ports.matcher_metrics[1]
    for shard, partitions in ((0, "[0, 2]"), (1, "[1, 3]")):
        line = f"matcher shard {shard} ready: topic {config.topic('orders')} partitions {partitions}"
        log_file = runner.log_path(f"matcher-{shard}")
        eventually(lambda log_file=log_file, line=line: line in log_file.read_text())  # logged just after metrics


def test_every_landed_service_comes_up_healthy_and_down_stops_it(stack_env: dict[str, str], cql_session) -> None:
    """The whole stack as `make up` runs it (every enabled service: today the matcher and the REST proxy; UBSCore,
    Settlement with its migration, and the gateway with its api_keys table once their code lands), on private
    topics, keyspace, Aeron streams and ports: each is healthy; `down` leaves no process behind."""
    config = from_env(stack_env)
    try:
        runner = lifecycle.up(config, out=lambda line: None)
        enabled = [spec.name for spec in runner.specs.values() if spec.enabled]
        assert {"matcher-0", "rest"} <= set(enabled)
        rows = {row.name: row for row in runner.status(enabled)}
        unhealthy = {name: row.state for name, row in rows.items() if not (row.health and row.health.ok)}
        assert not unhealthy, unhealthy
        recorded = _service_pids(config)
        assert len(recorded) == 2 * len(enabled)  # each service and its supervisor
        lifecycle.down(config, out=lambda line: None)
        assert not any(_alive(pid) for pid in recorded.values()), recorded
    finally:
        drop_keyspace(cql_session, config.cql_keyspace)
