"""What the ``sandbox:`` section asks of the machine that runs the sandbox: CPUs that exist
there, and no more server processes than they hold.

Checked when the sandbox starts, on that machine, not when the spec loads. The spec loads
first where the DAG is parsed (Airflow's DAG processor, often a small machine of its own)
and the sandbox runs on a worker that may be larger: a check at load would refuse
``cpus: [2, 3]`` meant for a 4-CPU worker on a 2-CPU scheduler, and the whole DAG would
vanish from the UI over a setting only the worker can judge. What needs no machine (CPU
numbers distinct and below Linux's ceiling, workers per pinned CPU) is checked at load by
mlrail.spec.sandbox; this is the rest, with the spec's file, line and field all the same.
"""

from __future__ import annotations

import os
from collections.abc import Collection

from mlrail.spec.documents import read_document
from mlrail.spec.errors import SpecError
from mlrail.spec.sandbox import WORKERS_PER_CPU


def check_sandbox_machine(spec, available: Collection[int] | None = None) -> None:
    """Refuse a ``sandbox:`` section this machine cannot run (``available``: the CPUs this
    process may use, ``os.sched_getaffinity(0)`` by default) with a SpecError naming the
    spec's file, line and field."""
    available = sorted(os.sched_getaffinity(0) if available is None else available)
    try:
        _check(spec.sandbox, available)
    except SpecError as err:
        err = err.under("sandbox")
        if not spec.path:  # a spec built in code, not read from a file
            raise err from None
        raise read_document(spec.path).error(err) from None


def _check(policy, available: list[int]) -> None:
    for i, cpu in enumerate(policy.cpus):
        if cpu not in available:
            raise SpecError(f"cpus[{i}]", f"a CPU this machine offers ({_ranges(available)})", cpu)
    cpus = len(policy.cpus) or len(available)
    if policy.workers > WORKERS_PER_CPU * cpus:
        pinned = "of cpus" if policy.cpus else "on this machine"
        raise SpecError(
            "workers",
            f"at most {WORKERS_PER_CPU} server processes per CPU: "
            f"{WORKERS_PER_CPU * cpus} for the {cpus} CPUs {pinned}",
            policy.workers,
        )


def _ranges(numbers: list[int]) -> str:
    """[0, 1, 2, 3, 6] as "0-3, 6"."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in spans)
