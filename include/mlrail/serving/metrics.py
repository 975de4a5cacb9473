"""Prometheus metrics: requests, errors and latency per model version.

prometheus_client is not among the installed packages (constraints.txt), so this renders
the text exposition format (version 0.0.4) itself; the names and labels are what
prometheus_client would produce, so switching later changes no dashboard.
"""

from __future__ import annotations

import threading
from collections import defaultdict

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def _labels(names: tuple[str, ...], values: tuple[str, ...], extra: str = "") -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    parts = [f'{n}="{escape(v)}"' for n, v in zip(names, values, strict=True)]
    return "{" + ",".join(parts + ([extra] if extra else [])) + "}"


class Counter:
    def __init__(self, name: str, doc: str, labels: tuple[str, ...]):
        self.name, self.doc, self.labels = name, doc, labels
        self.values: dict[tuple[str, ...], float] = defaultdict(float)

    def inc(self, *values: str, amount: float = 1.0) -> None:
        self.values[values] += amount

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.doc}", f"# TYPE {self.name} counter"]
        for values, total in sorted(self.values.items()):
            lines.append(f"{self.name}{_labels(self.labels, values)} {total}")
        return lines


class Histogram:
    def __init__(self, name: str, doc: str, labels: tuple[str, ...], buckets=LATENCY_BUCKETS):
        self.name, self.doc, self.labels, self.buckets = name, doc, labels, buckets
        self.counts: dict[tuple[str, ...], list[int]] = {}
        self.sums: dict[tuple[str, ...], float] = defaultdict(float)

    def observe(self, value: float, *values: str) -> None:
        counts = self.counts.setdefault(values, [0] * (len(self.buckets) + 1))
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                counts[i] += 1
        counts[-1] += 1
        self.sums[values] += value

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.doc}", f"# TYPE {self.name} histogram"]
        for values, counts in sorted(self.counts.items()):
            for bound, count in zip(self.buckets, counts, strict=False):
                le = f'le="{bound}"'
                lines.append(f"{self.name}_bucket{_labels(self.labels, values, le)} {count}")
            inf = 'le="+Inf"'
            lines.append(f"{self.name}_bucket{_labels(self.labels, values, inf)} {counts[-1]}")
            lines.append(f"{self.name}_count{_labels(self.labels, values)} {counts[-1]}")
            lines.append(f"{self.name}_sum{_labels(self.labels, values)} {self.sums[values]}")
        return lines


class ServerMetrics:
    """The server's metrics; ``model_calls`` is read from the loaded versions at scrape."""

    def __init__(self):
        self._lock = threading.Lock()
        self.requests = Counter(
            "mlrail_requests_total", "Requests answered.", ("model", "version", "code")
        )
        self.errors = Counter(
            "mlrail_request_errors_total", "Requests answered with an error.", ("model", "version")
        )
        self.latency = Histogram(
            "mlrail_request_latency_seconds", "Time to answer a request.", ("model", "version")
        )
        self.rows = Counter(
            "mlrail_predicted_rows_total", "Instances predicted.", ("model", "version")
        )

    def record(self, model: str, version: str, code: int, seconds: float) -> None:
        with self._lock:
            self.requests.inc(model, version, str(code))
            if code >= 400:
                self.errors.inc(model, version)
            self.latency.observe(seconds, model, version)

    def render(self, model_calls: dict[tuple[str, str], int]) -> str:
        calls = Counter(
            "mlrail_model_calls_total", "Model calls (one per batch).", ("model", "version")
        )
        for key, count in model_calls.items():
            calls.inc(*key, amount=count)
        with self._lock:
            families = (self.requests, self.errors, self.latency, self.rows, calls)
            lines = [line for family in families for line in family.render()]
        return "\n".join(lines) + "\n"
