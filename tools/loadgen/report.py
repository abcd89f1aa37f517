"""Numbers of a load run: rates through each stage, latency percentiles (HdrHistogram), lags, plots and JSON.

Stages of an order: *accepted* (the gateway's answer), *matched* (its first output on the matcher feed),
*persisted* (Settlement's chain_state covers that output's seq). Each stage's sustained rate is its count over the
time from the first command to the last order reaching that stage, so a stage that falls behind shows a lower
rate, and `drain_s` says how long persistence ran on after the last command was sent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from hdrh.histogram import HdrHistogram

from tools.loadgen.driver import LoadRecord
from tools.loadgen.watch import FirstOutput, LagSample, ShardProgress

LATENCY_US_MAX = 600_000_000  # 10 minutes: beyond is a hang, clamp it
PERCENTILES = (50.0, 90.0, 99.0, 99.9, 100.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Stages:
    """Per accepted order: send time, and (None when it never got there) matched and persisted times."""

    sent_ns: list[int]
    matched_ns: list[int | None]
    persisted_ns: list[int | None]


def stages(record: LoadRecord, first: dict[int, FirstOutput], progress: dict[int, ShardProgress]) -> Stages:
    """Join what the driver, the feed and chain_state saw, order by order."""
    sent, matched, persisted = [], [], []
    for order_id, sent_ns in record.accepted.items():
        output = first.get(order_id)
        sent.append(sent_ns)
        matched.append(None if output is None else output.seen_ns)
        persisted.append(None if output is None else progress[output.shard_id].persisted_ns(output.seq))
    return Stages(sent_ns=sent, matched_ns=matched, persisted_ns=persisted)


def percentiles_us(latencies_us: Sequence[float]) -> dict[str, float]:
    """p50..max of `latencies_us` through an HdrHistogram (3 significant digits)."""
    histogram = HdrHistogram(1, LATENCY_US_MAX, 3)
    for value in latencies_us:
        histogram.record_value(min(LATENCY_US_MAX, max(1, int(value))))
    return {f"p{p:g}": float(histogram.get_value_at_percentile(p)) for p in PERCENTILES} | {
        "count": float(histogram.get_total_count())}


def summarize(record: LoadRecord, staged: Stages, lags: Sequence[LagSample]) -> dict[str, object]:
    """The run's numbers as a JSON-ready dict (see the module docstring)."""
    start_ns = record.started_ns
    send_s = (record.ended_ns - start_ns) / 1e9
    matched = [(s, m) for s, m in zip(staged.sent_ns, staged.matched_ns, strict=True) if m is not None]
    persisted = [(s, p) for s, p in zip(staged.sent_ns, staged.persisted_ns, strict=True) if p is not None]

    def rate(ends_ns: Sequence[int]) -> float:
        return len(ends_ns) / max(1e-9, (max(ends_ns) - start_ns) / 1e9) if ends_ns else 0.0

    lag_max = {}
    for sample in lags:
        for name, value in sample.values.items():
            if value is not None:
                lag_max[name] = max(lag_max.get(name, 0), value)
    last_persist_ns = max((p for _, p in persisted), default=record.ended_ns)
    return {
        "send_s": send_s,
        "client_cpu_per_s": record.cpu_s / max(1e-9, send_s),
        "accepted": len(record.accepted), "matched": len(matched), "persisted": len(persisted),
        "refused": dict(record.refused), "cancels_queued": record.cancels_queued,
        "cancels_refused": record.cancels_refused, "duplicates": record.duplicates, "retries": record.retries,
        "transfers": len(record.transfers),
        "accepted_per_s": rate(record.ack_ns), "matched_per_s": rate([m for _, m in matched]),
        "persisted_per_s": rate([p for _, p in persisted]),
        "drain_s": max(0.0, (last_persist_ns - record.ended_ns) / 1e9),
        "ack_latency_us": percentiles_us(record.ack_latency_us),
        "match_latency_us": percentiles_us([(m - s) / 1_000 for s, m in matched]),
        "persist_latency_us": percentiles_us([(p - s) / 1_000 for s, p in persisted]),
        "lag_max": lag_max,
    }


def timeline(record: LoadRecord, staged: Stages) -> dict[str, list[float]]:
    """Per second since the start: orders per stage, ack p50/p99 and persistence p99 (ms) of the orders answered."""
    start_ns = record.started_ns
    end_ns = max([record.ended_ns, *(p for p in staged.persisted_ns if p is not None)])
    seconds = int((end_ns - start_ns) / 1e9) + 1
    counts = {name: [0.0] * seconds for name in ("accepted", "matched", "persisted")}
    acks: list[list[float]] = [[] for _ in range(seconds)]
    persists: list[list[float]] = [[] for _ in range(seconds)]
    for at_ns, latency_us in zip(record.ack_ns, record.ack_latency_us, strict=True):
        second = int((at_ns - start_ns) / 1e9)
        counts["accepted"][second] += 1
        acks[second].append(latency_us)
    for sent_ns, matched_ns, persisted_ns in zip(staged.sent_ns, staged.matched_ns, staged.persisted_ns,
                                                 strict=True):  # fmt: skip
        if matched_ns is not None:
            counts["matched"][min(seconds - 1, int((matched_ns - start_ns) / 1e9))] += 1
        if persisted_ns is not None:
            second = min(seconds - 1, int((persisted_ns - start_ns) / 1e9))
            counts["persisted"][second] += 1
            persists[second].append((persisted_ns - sent_ns) / 1_000)

    def quantile_ms(values: list[float], q: float) -> float:
        return sorted(values)[min(len(values) - 1, int(len(values) * q))] / 1_000 if values else float("nan")

    return {**counts, "ack_p50_ms": [quantile_ms(v, 0.5) for v in acks],
            "ack_p99_ms": [quantile_ms(v, 0.99) for v in acks],
            "persist_p99_ms": [quantile_ms(v, 0.99) for v in persists]}


def write(results_dir: Path, name: str, summary: dict[str, object], series: dict[str, list[float]],
          lags: Sequence[LagSample], settings: dict[str, object]) -> list[Path]:
    """Write <name>.json, <name>_latency.png and <name>_throughput.png under `results_dir`; return the paths."""
    results_dir.mkdir(parents=True, exist_ok=True)
    json_path = results_dir / f"{name}.json"
    lag_series = [{"elapsed_s": sample.elapsed_s, **sample.values} for sample in lags]
    json_path.write_text(json.dumps({"settings": settings, "summary": summary, "timeline": series,
                                     "lags": lag_series}, indent=2, default=str) + "\n")  # fmt: skip
    seconds = list(range(len(series["accepted"])))
    latency_path = results_dir / f"{name}_latency.png"
    figure, axis = plt.subplots(figsize=(9, 4.5))
    axis.plot(seconds, series["ack_p50_ms"], label="ack p50")
    axis.plot(seconds, series["ack_p99_ms"], label="ack p99")
    axis.plot(seconds, series["persist_p99_ms"], label="persisted p99")
    axis.set(xlabel="seconds since start", ylabel="latency (ms, log)", yscale="log", title=f"{name}: latency")
    axis.legend()
    figure.tight_layout()
    figure.savefig(latency_path, dpi=100)
    plt.close(figure)
    throughput_path = results_dir / f"{name}_throughput.png"
    figure, (rates, lag_axis) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    for stage in ("accepted", "matched", "persisted"):
        rates.plot(seconds, series[stage], label=stage)
    rates.set(ylabel="orders per second", title=f"{name}: throughput")
    rates.legend()
    for gauge in sorted({key for sample in lags for key in sample.values}):
        lag_axis.plot([s.elapsed_s for s in lags], [s.values.get(gauge) or 0 for s in lags], label=gauge)
    lag_axis.set(xlabel="seconds since start", ylabel="lag (records / outputs)")
    lag_axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(throughput_path, dpi=100)
    plt.close(figure)
    return [json_path, latency_path, throughput_path]


def table(summary: dict[str, object]) -> str:
    """A few lines for people."""
    lines = [f"sent for {summary['send_s']:.1f} s (this client used {summary['client_cpu_per_s']:.2f} CPU cores); "
             f"persistence drained {summary['drain_s']:.1f} s after",
             f"{'stage':<11}{'orders':>10}{'orders/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'p99.9 ms':>10}{'max ms':>9}"]
    for stage, latency in (("accepted", "ack_latency_us"), ("matched", "match_latency_us"),
                           ("persisted", "persist_latency_us")):
        pct = summary[latency]
        assert isinstance(pct, dict)
        lines.append(f"{stage:<11}{summary[stage]:>10}{summary[f'{stage}_per_s']:>11.0f}{pct['p50'] / 1e3:>9.1f}"
                     f"{pct['p99'] / 1e3:>9.1f}{pct['p99.9'] / 1e3:>10.1f}{pct['p100'] / 1e3:>9.1f}")
    lines.append(f"refused {summary['refused']}; cancels queued {summary['cancels_queued']}, refused "
                 f"{summary['cancels_refused']}; transfers {summary['transfers']}; re-sent answers "
                 f"{summary['duplicates']}; reconnects {summary['retries']}")
    lines.append(f"lag max: {summary['lag_max']}")
    return "\n".join(lines)
