"""The spec's ``sandbox:`` section: the policy a candidate must meet in the sandbox before it
may be pushed (mlrail.serving.sandbox).

The candidate and the blessed model each run in their own server process; the same
requests are replayed to both in alternating rounds, at each concurrency level, so the
machine's noise hits both. The p99 ratio is judged on the median of the per-round ratios:
an identical model passes, a model slower by more than the ratio does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlrail.spec.errors import SpecError, distinct, positive, within


@dataclass(frozen=True)
class SandboxSpec:
    concurrency: list[int] = field(default_factory=lambda: [1, 8])  # clients sending at once
    rounds: int = 8  # rounds per concurrency level; candidate and blessed alternate in each
    requests_per_round: int = 400  # requests per model and round, one instance each
    warmup_requests: int = 20  # sent to each model before measuring, not measured
    max_p99_ratio: float = 1.2  # candidate p99 / blessed p99, median over the rounds
    p99_budget_ms: float = 250.0  # absolute p99 at every level, for every candidate
    memory_limit_mb: int = 4096  # the production machine's memory: peak RSS must stay below
    cpus: list[int] = field(default_factory=list)  # pin each server to these CPUs; []: any
    workers: int = 1  # server processes per model, as production runs it
    max_loading_seconds: float = 180.0  # from process start until the model answers
    load_tries: int = 2  # a server that fails to come up is started again this many times
    parity_rows: int = 200  # rows whose served answers must equal in-process predictions
    parity_tolerance: float = (
        1e-5  # largest difference in an output: absolute below 1, else relative
    )
    replay_window_hours: float = 24.0  # logged requests of this last window, if any
    max_minutes: float = 60.0  # a sandbox server stops itself after this long, whatever

    def __post_init__(self) -> None:
        if not self.concurrency:
            raise SpecError("concurrency", "a non-empty list of positive integers", [])
        for i, level in enumerate(self.concurrency):
            positive(f"concurrency[{i}]", level)
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
            "max_p99_ratio": ("a ratio of at least 1.0", self.max_p99_ratio >= 1.0),
            "p99_budget_ms": (positive_number, self.p99_budget_ms > 0),
            "max_loading_seconds": (positive_number, self.max_loading_seconds > 0),
            "replay_window_hours": (positive_number, self.replay_window_hours > 0),
            "max_minutes": (positive_number, self.max_minutes > 0),
            "parity_tolerance": ("zero or a positive number", self.parity_tolerance >= 0),
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
