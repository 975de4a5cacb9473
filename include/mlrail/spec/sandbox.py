"""The spec's ``sandbox:`` section: the policy a candidate must meet in the sandbox before it
may be pushed (mlrail.serving.sandbox).

The candidate and the blessed model each run in their own server process; the same
requests are replayed to both in rounds of short alternating turns, at each concurrency
level, so the machine's noise hits both. Latency and throughput are judged on bounds, at
the policy's confidence, on the median of the ratios of each pair of adjacent turns
(mlrail.serving.sandbox.verdict): failed only when the pairs show the candidate beyond a
limit, passed when they show it within, else more rounds up to ``max_rounds``, then
inconclusive (``on_inconclusive`` decides).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlrail.spec.errors import SpecError, distinct, one_of, positive, within

MAX_CONCURRENCY = 256


@dataclass(frozen=True)
class SandboxSpec:
    concurrency: list[int] = field(default_factory=lambda: [1, 8])  # clients sending at once
    rounds: int = 8  # rounds per concurrency level; candidate and blessed alternate in each
    requests_per_round: int = 400  # requests per model and round, one instance each
    warmup_requests: int = 20  # sent to each model before measuring, not measured
    # The median over turn pairs of the candidate's latency_quantile latency in its turn
    # over the blessed model's in the adjacent one. The median of a turn's 50 requests:
    # between two copies of one model on a loaded 2-core machine, the pair ratios' log
    # spread (interquartile) was 0.13 at p50, 0.17 for a 20 %-trimmed mean and 0.78 at p90
    # (a turn's p90 is its 5th-slowest request); benchmarks/RESULTS.md, issue 18.
    max_latency_ratio: float = 1.2  # largest candidate / blessed latency ratio allowed
    latency_quantile: float = 50.0  # which latency of a turn is compared: its p50 by default
    min_throughput_ratio: float = 0.8  # candidate / blessed requests per second, per turn pair
    confidence: float = 0.95  # of a failed or passed comparison, over all levels and looks
    max_rounds: int = 24  # while a comparison is inconclusive, batches of `rounds` up to this
    on_inconclusive: str = "push"  # push | refuse: what an inconclusive comparison means
    min_logged_requests: int = 200  # distinct answered logged requests needed to replay them
    p99_budget_ms: float = 250.0  # absolute p99 at every level, for every candidate
    memory_limit_mb: int = 4096  # the production machine's memory: peak RSS must stay below
    cpus: list[int] = field(default_factory=list)  # pin each server to these CPUs; []: any
    workers: int = 1  # server processes per model, as production runs it
    max_loading_seconds: float = 180.0  # from process start until the model answers
    load_tries: int = 2  # a server that fails to come up is started again this many times
    parity_rows: int = 200  # rows whose served answers must equal in-process predictions
    # Largest difference in an output: absolute below 1, else relative.
    parity_tolerance: float = 1e-5
    replay_window_hours: float = 24.0  # logged requests of this last window, if any
    max_minutes: float = 60.0  # a sandbox server stops itself after this long, whatever

    def __post_init__(self) -> None:
        if not self.concurrency:
            raise SpecError("concurrency", "a non-empty list of positive integers", [])
        for i, level in enumerate(self.concurrency):
            positive(f"concurrency[{i}]", level)
            if level > MAX_CONCURRENCY:
                # Each level is one client thread per request in flight, in the worker.
                raise SpecError(
                    f"concurrency[{i}]", f"at most {MAX_CONCURRENCY} clients at once", level
                )
        one_of("on_inconclusive", self.on_inconclusive, ("push", "refuse"))
        for name in POSITIVE_INTEGERS:
            positive(name, getattr(self, name))
        _check_counts(self)
        for name, (expected, ok) in self._numbers().items():
            if not ok:
                raise SpecError(name, expected, getattr(self, name))
        for i, cpu in enumerate(self.cpus):
            if cpu < 0:
                raise SpecError(f"cpus[{i}]", "a CPU number (0, 1, ...)", cpu)
        _check_limits(self)

    def _numbers(self) -> dict[str, tuple[str, bool]]:
        positive_number = "a positive number"
        return {
            "warmup_requests": ("zero or a positive integer", self.warmup_requests >= 0),
            "max_latency_ratio": (
                "a ratio from 1.0 to 100",
                1.0 <= self.max_latency_ratio <= 100.0,
            ),
            "latency_quantile": (
                "a percentile from 1 to 99.9",
                1.0 <= self.latency_quantile <= 99.9,
            ),
            "min_throughput_ratio": (
                "a ratio above 0 and at most 1.0",
                0.0 < self.min_throughput_ratio <= 1.0,
            ),
            "confidence": ("a confidence from 0.5 to 0.999", 0.5 <= self.confidence <= 0.999),
            "max_rounds": (
                f"a number of rounds from rounds ({self.rounds}) to 1000",
                self.rounds <= self.max_rounds <= 1000,
            ),
            "min_logged_requests": (
                "a number of requests from 1 to 1,000,000",
                1 <= self.min_logged_requests <= 1_000_000,
            ),
            "p99_budget_ms": (positive_number, self.p99_budget_ms > 0),
            "max_loading_seconds": (positive_number, self.max_loading_seconds > 0),
            "replay_window_hours": (
                "a number of hours above 0, at most 744 (31 days)",
                0 < self.replay_window_hours <= 744,
            ),
            # Below a minute a server would stop itself before it finished loading.
            "max_minutes": (
                "a number of minutes from 1 to 1440",
                1 <= self.max_minutes <= 1440,
            ),
            # Absolute below 1, relative above: anything near 1 would accept any answer.
            "parity_tolerance": (
                "zero or a positive number up to 0.1",
                0 <= self.parity_tolerance <= 0.1,
            ),
        }


POSITIVE_INTEGERS = (
    "rounds",
    "requests_per_round",
    "memory_limit_mb",
    "workers",
    "load_tries",
    "parity_rows",
)


# The ranges below bound what one sandbox run asks of the Airflow worker that runs it
# (threads, requests, processes, memory, time); the checks above refuse values below them
# with their own words. Machine-dependent facts (do these CPUs exist, can its CPUs hold the
# workers) are checked where the sandbox starts: mlrail.spec.machine says why.
COUNTS = {
    "rounds": (1000, "a number of rounds"),
    "requests_per_round": (100_000, "a number of requests"),
    "load_tries": (10, "a number of tries"),
    "parity_rows": (10_000, "a number of rows"),  # one request each
    "workers": (64, "a number of server processes"),  # each holds its own copy of the model
}
MAX_LEVELS = 8  # concurrency levels: each one is measured for `rounds` rounds
# Each server process runs the model's own thread pools: beyond a few per CPU they measure
# their contention, not the model (the slack is for time spent parsing and on the socket).
WORKERS_PER_CPU = 4
MAX_CPU = 8191  # Linux's highest CPU number (NR_CPUS is at most 8192)
MIN_MEMORY_MB = 256  # below what a TensorFlow server process takes before it loads a model
MAX_MEMORY_MB = 1 << 20  # 1 TiB


def _check_counts(spec: SandboxSpec) -> None:
    """The integers' upper bounds (their lower ones are checked before) and the levels."""
    for name, (high, what) in COUNTS.items():
        within(name, getattr(spec, name), 1, high, what, integer=True)
    within("memory_limit_mb", spec.memory_limit_mb, MIN_MEMORY_MB, MAX_MEMORY_MB, "a number of MB")
    if len(spec.concurrency) > MAX_LEVELS:
        raise SpecError("concurrency", f"at most {MAX_LEVELS} levels", spec.concurrency)
    distinct("concurrency", spec.concurrency, "levels")


def _check_limits(spec: SandboxSpec) -> None:
    """The upper bounds of the numbers whose lower bounds ``_numbers`` checks, and the CPUs."""
    within("warmup_requests", spec.warmup_requests, 0, 10_000, "a number of requests")
    # The replay client gives up on a request after 60 s: a budget above it judges nothing.
    within("p99_budget_ms", spec.p99_budget_ms, 1, 60_000, "a number of milliseconds")
    within("max_loading_seconds", spec.max_loading_seconds, 1, 3600, "a number of seconds")
    if spec.max_loading_seconds > spec.max_minutes * 60:
        raise SpecError(
            "max_loading_seconds",
            f"at most what max_minutes ({spec.max_minutes:g}) allows: a sandbox server stops "
            "itself then, loaded or not",
            spec.max_loading_seconds,
        )
    for i, cpu in enumerate(spec.cpus):
        within(f"cpus[{i}]", cpu, 0, MAX_CPU, "a CPU number", integer=True)
    distinct("cpus", spec.cpus, "CPU numbers")
    if spec.cpus and spec.workers > WORKERS_PER_CPU * len(spec.cpus):
        raise SpecError(
            "workers",
            f"at most {WORKERS_PER_CPU} server processes per CPU of cpus "
            f"({WORKERS_PER_CPU * len(spec.cpus)} for {len(spec.cpus)})",
            spec.workers,
        )
