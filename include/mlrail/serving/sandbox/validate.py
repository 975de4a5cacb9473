"""One sandbox validation: traffic replayed to the running servers, parity and malformed
requests checked on the candidate, memory watched throughout; the measurements the verdict
(mlrail.serving.sandbox.verdict) and the report read."""

from __future__ import annotations

import fcntl
import math
import os
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mlrail.serving.sandbox import probes
from mlrail.serving.sandbox.replay import (
    Client,
    Sample,
    Traffic,
    first_request_ms,
    replay,
    send_all,
)
from mlrail.serving.sandbox.servers import BLESSED, CANDIDATE, Servers, rss_bytes
from mlrail.serving.sandbox.verdict import undecided_levels
from mlrail.spec.sandbox import SandboxSpec

MB = 1024 * 1024
PERCENTILES = list(range(0, 101))  # the latency CDF each report draws


@contextmanager
def machine_to_itself() -> Iterator[None]:
    """Hold the machine's sandbox lock while measuring: two validations measuring at once
    (concurrent runs on one worker machine) would each measure the other's load."""
    folder = Path(tempfile.gettempdir()) / "mlrail-sandbox"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "measure.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class MemoryWatch:
    """Samples each server's resident memory every ``period`` seconds; a server above the
    ceiling is killed, as the production machine's out-of-memory killer would."""

    def __init__(self, servers: Servers, ceiling_mb: float, period: float = 0.2):
        self.servers, self.ceiling, self.period = servers, ceiling_mb * MB, period
        self.samples: dict[str, list[tuple[float, int]]] = {r: [] for r in servers.running}
        self.killed: set[str] = set()
        self._stop = threading.Event()
        self._began = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="mlrail-memory", daemon=True)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            for role, server in self.servers.running.items():
                if role in self.killed:
                    continue
                now, _ = rss_bytes(server)
                self.samples[role].append((round(time.monotonic() - self._began, 2), now))
                if now > self.ceiling:
                    self.killed.add(role)
                    try:
                        os.killpg(server.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            if self._stop.wait(self.period):
                return

    def peak(self, role: str) -> int:
        sampled = max((rss for _, rss in self.samples[role]), default=0)
        return max(sampled, rss_bytes(self.servers.running[role])[1])


def trimmed_mean(values: list[float], share: float = 0.2) -> float:
    """The mean without the ``share`` slowest and the ``share`` fastest values."""
    if not values:
        return math.inf
    ordered = sorted(values)
    cut = int(len(ordered) * share)
    return float(np.mean(ordered[cut : len(ordered) - cut]))


def _level_summary(rounds: list[dict[str, Sample]], role: str) -> dict[str, Any]:
    latencies = np.concatenate([np.asarray(r[role].latencies_ms) for r in rounds] or [[]])
    per_round = [r[role] for r in rounds]
    stats = {"requests": int(latencies.size), "errors": sum(len(s.errors) for s in per_round)}
    if latencies.size:
        p = np.percentile(latencies, [50, 90, 99])
        stats.update(p50_ms=float(p[0]), p90_ms=float(p[1]), p99_ms=float(p[2]))
        stats["cdf_ms"] = [round(float(v), 3) for v in np.percentile(latencies, PERCENTILES)]
    else:
        stats.update(p50_ms=float("inf"), p90_ms=float("inf"), p99_ms=float("inf"), cdf_ms=[])
    stats["throughput_rps"] = float(np.median([s.throughput for s in per_round]))
    # Round by round, aligned across roles: what the verdict's ratios are taken from.
    for q in (50, 90, 99):
        stats[f"round_p{q}_ms"] = [s.percentile(q) for s in per_round]
    stats["round_throughput_rps"] = [s.throughput for s in per_round]
    # Turn by turn (rounds in order), aligned across roles: what the verdict pairs.
    turns = [t for s in per_round for t in s.turns]
    for q in (50, 90):
        stats[f"turn_p{q}_ms"] = [t.percentile(q) for t in turns]
    stats["turn_trimmed_mean_ms"] = [trimmed_mean(t.latencies_ms) for t in turns]
    stats["turn_throughput_rps"] = [t.throughput for t in turns]
    stats["first_error"] = next((e for s in per_round for e in s.errors), None)
    return stats


def _pairs(results: dict[int, list[dict[str, Sample]]]) -> dict[int, list[tuple[Sample, Sample]]]:
    """Per level, every pair of turns (candidate's, blessed's) that ran back to back on the
    same requests and both answered some: a round of turns of TURN requests gives
    requests_per_round / TURN pairs, each sharing the machine's state of that moment."""
    return {
        level: [
            (mine, theirs)
            for r in rounds
            for mine, theirs in zip(r[CANDIDATE].turns, r[BLESSED].turns, strict=False)
            if mine.latencies_ms and theirs.latencies_ms
        ]
        for level, rounds in results.items()
    }


def _ratios(results: dict[int, list[dict[str, Sample]]], quantile: float) -> dict[int, list[float]]:
    """Per level, each turn pair's candidate / blessed ratio of the ``quantile`` latency of
    the turn's requests."""
    return {
        level: [mine.percentile(quantile) / theirs.percentile(quantile) for mine, theirs in pairs]
        for level, pairs in _pairs(results).items()
    }


def _throughput_ratios(results: dict[int, list[dict[str, Sample]]]) -> dict[int, list[float]]:
    """Per level, each turn pair's candidate / blessed ratio of requests answered per
    second."""
    return {
        level: [
            mine.throughput / theirs.throughput
            for mine, theirs in pairs
            if mine.throughput and theirs.throughput
        ]
        for level, pairs in _pairs(results).items()
    }


def replay_until_decided(
    urls: dict[str, str], bodies: list[bytes], policy: SandboxSpec
) -> dict[int, list[dict[str, Sample]]]:
    """``policy.rounds`` rounds at every level; then, while a comparison with the blessed
    model is inconclusive at some level, another batch of rounds at those levels, up to
    ``max_rounds`` and half of ``max_minutes`` (the servers stop themselves at
    ``max_minutes``). The verdict's bounds are corrected for every look this may take."""
    began = time.monotonic()
    results = replay(urls, bodies, policy.concurrency, policy.rounds, policy.requests_per_round)
    if BLESSED not in urls:
        return results
    budget, batch_seconds = policy.max_minutes * 60 / 2, time.monotonic() - began
    taken = policy.rounds
    while taken + policy.rounds <= policy.max_rounds:
        levels = undecided_levels(
            _ratios(results, policy.latency_quantile), _throughput_ratios(results), vars(policy)
        )
        failing = any(r[CANDIDATE].errors for rounds in results.values() for r in rounds)
        if failing or not levels or time.monotonic() - began + batch_seconds > budget:
            break  # (a candidate that failed requests is refused by the errors check)
        batch_began = time.monotonic()
        more = replay(urls, bodies, levels, policy.rounds, policy.requests_per_round, taken)
        batch_seconds = time.monotonic() - batch_began
        for level, rounds in more.items():
            results[level].extend(rounds)
        taken += policy.rounds
    return results


def _warm_up(urls: dict[str, str], traffic: Traffic, count: int) -> dict[str, dict]:
    first = {}
    for role, url in urls.items():
        latency, error = first_request_ms(url, traffic.bodies[0])
        first[role] = {"latency_ms": round(latency, 3), "error": error}
        if count:
            send_all(Client(url), traffic.bodies, 1, count)
    return first


def measure(
    servers: Servers,
    traffic: Traffic,
    parity_table: pa.Table,
    schema: dict,
    candidate_dir: Path,
    policy: SandboxSpec,
    max_request_bytes: int,
) -> dict[str, Any]:
    """Everything the verdict and the report need, for the servers running now."""
    urls = {role: s.url for role, s in servers.running.items()}
    with machine_to_itself(), MemoryWatch(servers, policy.memory_limit_mb) as memory:
        first = _warm_up(urls, traffic, policy.warmup_requests)
        results = replay_until_decided(urls, traffic.bodies, policy)
        url = urls[CANDIDATE]
        parity = probes.parity(
            url, candidate_dir, parity_table.slice(0, policy.parity_rows), schema
        )
        sample = probes.instances(parity_table.slice(0, 1), schema)[0]
        bodies = probes.malformed_bodies(schema, sample, max_request_bytes)
        malformed, healthy = probes.malformed(url, bodies, traffic.bodies[0])
    models = {}
    for role, server in servers.running.items():
        levels = {level: _level_summary(rounds, role) for level, rounds in results.items()}
        models[role] = {
            "load_seconds": server.load_seconds,
            "tries": server.tries,
            "first_request": first[role],
            "levels": levels,
            "peak_rss_bytes": memory.peak(role),
            "model_bytes": server.model_bytes,
            "version": server.version,
            "killed": role in memory.killed,
        }
    candidate = models[CANDIDATE]
    errors = sum(level["errors"] for level in candidate["levels"].values())
    errors += 1 if first[CANDIDATE]["error"] else 0
    requests = sum(lv["requests"] + lv["errors"] for lv in candidate["levels"].values()) + 1
    first_error = first[CANDIDATE]["error"] or next(
        (lv["first_error"] for lv in candidate["levels"].values() if lv["first_error"]), None
    )
    return {
        "errors": errors,
        "requests": requests,
        "first_error": first_error,
        "p99_by_level": {level: lv["p99_ms"] for level, lv in candidate["levels"].items()},
        "peak_rss_bytes": candidate["peak_rss_bytes"],
        "killed": candidate["killed"],
        "ratios": _ratios(results, policy.latency_quantile) if BLESSED in urls else None,
        "throughput_ratios": _throughput_ratios(results) if BLESSED in urls else None,
        "latency_quantile": policy.latency_quantile,
        "parity": parity,
        "malformed": malformed,
        "healthy_after": healthy,
        "models": models,
        "memory": {role: samples for role, samples in memory.samples.items()},
        "traffic": {"source": traffic.source, "detail": traffic.detail},
    }
