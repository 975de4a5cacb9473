"""The spec's ``sandbox:`` section: the policy a candidate must meet in the sandbox before it
may be pushed (mlrail.serving.sandbox).

The candidate and the blessed model each run in their own server process; the same
requests are replayed to both in alternating rounds, at each concurrency level, so the
machine's noise hits both. The p99 ratio is judged on the median of the per-round ratios:
an identical model passes, a model slower by more than the ratio does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlrail.spec.errors import SpecError, positive


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
        for name, (expected, ok) in self._numbers().items():
            if not ok:
                raise SpecError(name, expected, getattr(self, name))
        for i, cpu in enumerate(self.cpus):
            if cpu < 0:
                raise SpecError(f"cpus[{i}]", "a CPU number (0, 1, ...)", cpu)

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
