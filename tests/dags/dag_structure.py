"""What a rendered DAG is, as far as Airflow and its users can tell: every task's operator,
edges, scheduling knobs, setup/teardown role, templated arguments and extra links, and the
DAG's schedule, params and tags. Two renderings with the same structure are the same DAG.

``training_dag.json`` beside this file is the structure the training DAG had when its
rendering moved to the pipeline model (issue 19), produced by this module from the DAG
factory of that commit, not written by hand:

    .venv/bin/python -m tests.dags.dag_structure > tests/dags/training_dag.json
"""

from __future__ import annotations

import inspect
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import TAXI_SPEC

# Spec variants that switch every optional part of the training DAG on (tuning, the
# cheap-hours window, accelerators, a budget), beside the example spec as it is.
VARIANTS = {
    "taxi_tips": {},
    "everything_on": {
        "tune": {"enabled": True, "max_trials": 2},
        "train": {
            "accelerator_count": 1,
            "max_minutes": 90,
            "priority_weight": 50,
            "retries": 4,
            "start_after": "22:30",
            "start_before": "06:00",
        },
    },
}
KNOBS = (
    "pool",
    "pool_slots",
    "priority_weight",
    "weight_rule",
    "retries",
    "retry_delay",
    "retry_exponential_backoff",
    "max_retry_delay",
    "execution_timeout",
    "trigger_rule",
    "queue",
    "owner",
    "is_setup",
    "is_teardown",
    "deferrable",
)


def _plain(value: Any) -> Any:
    """A templated argument as text: an upstream task's output by its task id."""
    from airflow.sdk.definitions.xcom_arg import XComArg

    if isinstance(value, XComArg):
        return f"<output of {value.operator.task_id}>"
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def _arguments(task) -> dict[str, Any]:
    """The operator's own arguments (its class's ``__init__``, up to BaseOperator), as the
    task keeps them."""
    names = set()
    for cls in type(task).__mro__:
        if cls.__name__ == "BaseOperator":
            break
        if "__init__" in vars(cls):
            names |= set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}
    return {name: _plain(getattr(task, name)) for name in sorted(names) if hasattr(task, name)}


def _task(task) -> dict[str, Any]:
    return {
        "operator": type(task).__name__,
        "upstream": sorted(task.upstream_task_ids),
        **{knob: _plain(getattr(task, knob, None)) for knob in KNOBS},
        "arguments": _arguments(task),
        "templated": {name: _plain(getattr(task, name)) for name in sorted(task.template_fields)},
        "extra_links": sorted(link.name for link in task.operator_extra_links),
    }


def structure(dag) -> dict[str, Any]:
    """The DAG's structure, in plain JSON."""
    return {
        "dag_id": dag.dag_id,
        "schedule": str(dag.schedule),
        "start_date": str(dag.start_date),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "tags": sorted(dag.tags),
        "doc_md": dag.doc_md,
        "default_args": _plain(dag.default_args),
        "params": {name: _plain(dict(p.dump())) for name, p in dag.params.items()},
        "tasks": {task.task_id: _task(task) for task in sorted(dag.tasks, key=lambda t: t.task_id)},
    }


def variant_spec(folder: Path, name: str) -> Path:
    """The example spec with the variant's sections merged in, in a project of its own
    (with the example's model module)."""
    spec = yaml.safe_load(TAXI_SPEC.read_text())
    for section, fields in VARIANTS[name].items():
        spec[section] = {**spec.get(section, {}), **fields}
    module = folder / spec["train"]["module"]  # relative paths, as the example has them
    module.parent.mkdir(parents=True, exist_ok=True)
    module.write_text((TAXI_SPEC.parents[2] / spec["train"]["module"]).read_text())
    path = folder / "include" / "pipelines" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def rendered(render) -> dict[str, Any]:
    """Every variant's DAGs as ``render(spec_path)`` gives them (a DAG, or ``{dag_id:
    DAG}``), by variant and dag_id, with the spec's folder made neutral."""
    found = {}
    with tempfile.TemporaryDirectory(prefix="mlrail-dag-structure-") as folder:
        for name in VARIANTS:
            dags = render(variant_spec(Path(folder), name))
            if not isinstance(dags, dict):
                dags = {dags.dag_id: dags}
            text = json.dumps({d: structure(dag) for d, dag in dags.items()}, sort_keys=True)
            found[name] = json.loads(text.replace(folder, "<project>"))
    return found


def main() -> None:
    from mlrail_airflow.dag_factory import training_dag

    json.dump(rendered(training_dag), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
