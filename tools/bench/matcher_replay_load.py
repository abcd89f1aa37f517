"""Benchmark: the matcher's matching throughput while many clients replay old history, against a quiet run.

One matcher shard, one private topic; the matcher is restarted (SIGTERM) before each phase, so each phase drains
a backlog that is already in Kafka:

    history   `--history` orders, drained (most of them older than the replay ring: answered from the WAL)
    quiet     `--backlog` more orders; outputs/s from the first to the last output of the phase
    loaded    `--backlog` more orders, while `--clients` REQ clients (one separate process) ask over and over for
              1000 outputs from a random old seq

`--rounds` of (quiet, loaded), interleaved, since this machine is shared and noisy. Reports every rate, the
medians, the median of the per-round loaded/quiet ratios (target >= 0.9), and the replay clients' answers/s and
outputs/s.

    .venv/bin/python -m tools.bench.matcher_replay_load [--history 40000] [--backlog 20000] [--rounds 5] [--clients 50]

Prints a table; writes bench-results/matcher_replay_load.json. Needs `bin/stack infra up kafka`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import zmq

from common.engine_feed import decode_feed_message, feed_topic
from common.kafka import BOOTSTRAP_DEFAULT, create_topic, delete_topic
from exchange.v1 import engine_pb2
from tools.bench.matcher_service import commands, free_port, preload
from tools.bench.results import print_rows, save_json

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_PATH = REPO_ROOT / "bench-results" / "matcher_replay_load.json"
SHARD_ID = 0
REPLAY_LIMIT = 1_000
RING_OUTPUTS = 16_384  # matcher.replay.REPLAY_RING_OUTPUTS: clients ask below it, so the WAL is read
CLIENT_TIMEOUT_MS = 10_000


def drain_phase(env: dict[str, str], sub: zmq.Socket, until_seq: int, timeout_s: float) -> float:
    """Start the matcher, receive outputs until seq `until_seq`, stop it; return outputs/s (first to last seen).

    Counted by seq, not by messages received: a feed message published before the SUB socket has reconnected to
    the restarted matcher is lost (PUB drops), and that must not stall or skew the measure.
    """
    started_ns = time.monotonic_ns()
    process = subprocess.Popen(
        [sys.executable, "-m", "matcher"], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline_ns = started_ns + int(timeout_s * 1e9)
    first_seq = last_seq = first_ns = last_ns = 0
    try:
        while last_seq < until_seq:
            if time.monotonic_ns() > deadline_ns:
                raise SystemExit(f"timeout: seq {last_seq} of {until_seq}")
            if not sub.poll(200):
                continue
            outputs = decode_feed_message(feed_topic(SHARD_ID), sub.recv())
            last_ns = time.monotonic_ns()
            if not first_ns:
                first_ns, first_seq = last_ns, outputs[-1].seq
            last_seq = outputs[-1].seq
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    return (last_seq - first_seq) / ((last_ns - first_ns) / 1e9) if last_ns > first_ns else 0.0


def replay_clients(endpoint: str, clients: int, history: int, seed: int) -> None:
    """Run `clients` REQ sockets asking for old history until SIGTERM; print a JSON line of what they got."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    rng = random.Random(seed)
    context = zmq.Context()
    poller = zmq.Poller()
    sockets = []
    oldest_asked = max(1, history - RING_OUTPUTS - REPLAY_LIMIT)

    def ask(socket: zmq.Socket) -> None:
        from_seq = rng.randint(1, oldest_asked)
        request = engine_pb2.ReplayRequest(shard_id=SHARD_ID, from_seq=from_seq, limit=REPLAY_LIMIT)
        socket.send(request.SerializeToString())

    for _ in range(clients):
        socket = context.socket(zmq.REQ)
        socket.setsockopt(zmq.LINGER, 0)
        socket.connect(endpoint)
        poller.register(socket, zmq.POLLIN)
        sockets.append(socket)
        ask(socket)
    answers = outputs = 0
    started_ns = time.monotonic_ns()
    while not stop:
        for socket, _ in poller.poll(100):
            response = engine_pb2.ReplayResponse.FromString(socket.recv())
            answers += 1
            outputs += len(response.outputs)
            ask(socket)
    elapsed_s = (time.monotonic_ns() - started_ns) / 1e9
    print(json.dumps({"answers": answers, "outputs": outputs, "elapsed_s": elapsed_s}), flush=True)
    context.destroy(linger=0)


def loaded_phase(
    args: argparse.Namespace, env: dict[str, str], sub: zmq.Socket, until_seq: int
) -> tuple[float, dict[str, float]]:
    """Drain one backlog while the replay clients hammer the endpoint; return (outputs/s, client stats)."""
    clients = subprocess.Popen(
        [sys.executable, "-m", "tools.bench.matcher_replay_load", "--replay-clients", env["MATCHER_REPLAY_ENDPOINT"],
         "--clients", str(args.clients), "--history", str(args.history)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        rate = drain_phase(env, sub, until_seq, args.timeout_s)
    finally:
        clients.send_signal(signal.SIGTERM)
        client_out, _ = clients.communicate(timeout=60)
    return rate, json.loads(client_out.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> dict[str, Any]:
    """History, then `--rounds` of (quiet, loaded) phases; returns the result document (medians)."""
    topic = f"orders.bench.{uuid.uuid4().hex[:10]}"
    create_topic(args.bootstrap, topic, partitions=4)
    records = commands(args.history + 2 * args.rounds * args.backlog, args.seed)
    pub_endpoint = f"tcp://127.0.0.1:{free_port()}"
    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.setsockopt(zmq.SUBSCRIBE, feed_topic(SHARD_ID))
    sub.connect(pub_endpoint)
    quiet: list[float] = []
    loaded: list[float] = []
    answers = outputs = elapsed_s = 0.0
    try:
        with tempfile.TemporaryDirectory(prefix="matcher-bench-replay-") as state_dir:
            env = dict(os.environ)
            env.update(
                MATCHER_SHARD_ID=str(SHARD_ID), MATCHER_TOPIC=topic, MATCHER_KAFKA_BOOTSTRAP=args.bootstrap,
                MATCHER_PUB_ENDPOINT=pub_endpoint, MATCHER_REPLAY_ENDPOINT=f"tcp://127.0.0.1:{free_port()}",
                MATCHER_METRICS_PORT="0", MATCHER_STATE_DIR=state_dir,
            )
            preload(args.bootstrap, topic, records[: args.history])
            drain_phase(env, sub, args.history, args.timeout_s)  # seq == orders: one output per command
            start = args.history
            for _ in range(args.rounds):  # interleaved, so a noisy neighbour hits both kinds of phase alike
                preload(args.bootstrap, topic, records[start : start + args.backlog])
                quiet.append(drain_phase(env, sub, start + args.backlog, args.timeout_s))
                preload(args.bootstrap, topic, records[start + args.backlog : start + 2 * args.backlog])
                rate, stats = loaded_phase(args, env, sub, start + 2 * args.backlog)
                loaded.append(rate)
                answers, outputs, elapsed_s = answers + stats["answers"], outputs + stats["outputs"], \
                    elapsed_s + stats["elapsed_s"]
                start += 2 * args.backlog
    finally:
        sub.close(linger=0)
        context.term()
        delete_topic(args.bootstrap, topic)
    quiet_median, loaded_median = statistics.median(quiet), statistics.median(loaded)
    # Each loaded phase runs right after its quiet one, so a neighbour's load hits the pair alike: the headline is
    # the median of the per-round ratios.
    ratios = [loaded_rate / quiet_rate for quiet_rate, loaded_rate in zip(quiet, loaded, strict=True) if quiet_rate]
    return {
        "benchmark": "matcher_replay_load",
        "history_orders": args.history,
        "backlog_orders_per_phase": args.backlog,
        "rounds": args.rounds,
        "replay_clients": args.clients,
        "quiet_outputs_per_s": [round(rate) for rate in quiet],
        "loaded_outputs_per_s": [round(rate) for rate in loaded],
        "quiet_median_outputs_per_s": round(quiet_median, 1),
        "loaded_median_outputs_per_s": round(loaded_median, 1),
        "loaded_over_quiet_per_round": [round(ratio, 3) for ratio in ratios],
        "loaded_over_quiet": round(statistics.median(ratios), 3),
        "replay_answers_per_s": round(answers / elapsed_s, 1),
        "replay_outputs_per_s": round(outputs / elapsed_s, 1),
    }


def main() -> None:
    """Parse flags, run once (or be the replay-client process), print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=40_000)
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--bootstrap", default=BOOTSTRAP_DEFAULT)
    parser.add_argument("--timeout-s", type=float, default=180.0)
    parser.add_argument("--replay-clients", metavar="ENDPOINT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replay_clients:
        replay_clients(args.replay_clients, args.clients, args.history, args.seed)
        return
    result = run(args)
    print_rows(result)
    save_json(result, RESULTS_PATH)


if __name__ == "__main__":
    main()
