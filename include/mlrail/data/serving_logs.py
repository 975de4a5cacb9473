"""What model servers log, as everything else reads it: the request and feedback logs'
layout, columns and readers (DESIGN.md, "The production loop").

The server's writer (mlrail.serving.requestlog) and every reader (the sandbox's replay,
evaluation's production slices, drift checks, continuous evaluation, rollout analysis)
take the layout from here, so no reader imports server code and no layout is spelled
twice. Hive-partitioned by each row's UTC time, so pyarrow, BigQuery external tables and
Spark read it as is::

    <log_root>/<model>/requests/date=YYYY-MM-DD/hour=HH/<instance>-<seq>.parquet
    <log_root>/<model>/feedback/date=YYYY-MM-DD/hour=HH/<instance>-<seq>.parquet

``log_root`` is a local folder or any fsspec URL (``gs://bucket/logs``). A file is complete
when it has its name: local files are written under a dot name and renamed, objects in a
bucket appear when their upload completes, and readers skip names that start with a dot
(pyarrow, Spark and BigQuery all do).

A request row: ``request_id``, ``ts`` (UTC), ``model``, ``version``, ``arm``, one column per
feature (typed by the schema: FEATURE_TYPES), one ``prediction_<field>`` column per
prediction field (nested fields joined with ``_``: ``prediction_probabilities_a``), and
``latency_ms`` last. A feedback row: ``request_id``, ``ts``, ``label`` (the schema label's
type), ``reward``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

REQUESTS, FEEDBACK = "requests", "feedback"  # the two logs of a model
TS = pa.timestamp("us", tz="UTC")
REQUEST_COLUMNS = pa.schema(
    [
        ("request_id", pa.string()),
        ("ts", TS),
        ("model", pa.string()),
        ("version", pa.string()),
        ("arm", pa.string()),
    ]
)
LATENCY = pa.field("latency_ms", pa.float64())  # the last column of every request file
PARTITIONS = pa.schema([("date", pa.string()), ("hour", pa.string())])
FEATURE_TYPES = {"int": pa.int64(), "float": pa.float64(), "string": pa.string()}
PREDICTION = "prediction_"
# What a request id may be, in the log and in feedback: printable ASCII without spaces (a
# UUID, a trace id), at most 128 characters, so an id is never a way to write kilobytes.
REQUEST_ID = re.compile(r"[!-~]{1,128}")


def valid_request_id(request_id: Any) -> bool:
    """Whether ``request_id`` is an id the logs keep (see REQUEST_ID)."""
    return isinstance(request_id, str) and REQUEST_ID.fullmatch(request_id) is not None


def feedback_columns(label: pa.DataType) -> pa.Schema:
    """The feedback log's columns, its label of type ``label``."""
    return pa.schema(
        [("request_id", pa.string()), ("ts", TS), ("label", label), ("reward", pa.float64())]
    )


def prediction_columns(prediction: dict, prefix: str = PREDICTION) -> dict[str, Any]:
    """A prediction's fields as request-log columns:
    ``{"probabilities": {"a": 0.2}}`` -> ``{"prediction_probabilities_a": 0.2}``."""
    flat = {}
    for key, value in prediction.items():
        if isinstance(value, dict):
            flat.update(prediction_columns(value, f"{prefix}{key}_"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def log_folder(log_root, model: str, log: str) -> str:
    """The folder (or URL) of one model's ``log`` (REQUESTS or FEEDBACK)."""
    if log not in (REQUESTS, FEEDBACK):
        raise ValueError(f"log: expected {REQUESTS!r} or {FEEDBACK!r}, got {log!r}")
    return f"{str(log_root).rstrip('/')}/{model}/{log}"


def partition(ts: datetime) -> str:
    """The partition folder of a row logged at ``ts`` (aware): ``date=.../hour=..``."""
    ts = ts.astimezone(UTC)
    return f"date={ts:%Y-%m-%d}/hour={ts:%H}"


def file_name(instance_id: str, seq: int) -> str:
    """The name of a server process's ``seq``-th file: each process writes only its own."""
    return f"{instance_id}-{seq:06d}.parquet"


def temporary_name(name: str) -> str:
    """Where a file is written before it is complete: a dot name, which readers skip."""
    return f".{name}.tmp"


def read_requests(
    log_root, model: str, since: datetime | None = None, until: datetime | None = None
) -> pa.Table:
    """Every logged request row of ``model`` with ``since <= ts < until`` (aware times;
    either may be None), with the ``date`` and ``hour`` partitions; only the days' folders
    of the window are read."""
    where = _window(since, until)
    return _read(log_folder(log_root, model, REQUESTS), REQUEST_COLUMNS, (LATENCY,), where)


def read_feedback(
    log_root, model: str, since: datetime | None = None, until: datetime | None = None
) -> pa.Table:
    """Every feedback row of ``model`` sent with ``since <= ts < until``."""
    base = feedback_columns(pa.null())  # the label is typed by the files
    return _read(log_folder(log_root, model, FEEDBACK), base, (), _window(since, until))


def labeled_samples(
    log_root, model: str, since: datetime | None = None, until: datetime | None = None
) -> pa.Table:
    """The requests logged with ``since <= ts < until`` that got feedback, with ``label``
    and ``reward``: per request, the latest label and the latest reward sent (a correction
    replaces a label), and ``feedback_ts``, when the latest arrived. Feedback comes after
    its request, so every feedback from ``since`` on counts, however late."""
    feedback = read_feedback(log_root, model, since=since).sort_by("ts")
    if feedback.num_rows == 0:  # no file types the label: aggregate it as strings
        feedback = feedback.set_column(2, "label", pa.nulls(0, pa.string()))
    latest = feedback.group_by("request_id", use_threads=False).aggregate(
        [
            ("label", "last", pc.ScalarAggregateOptions(skip_nulls=True)),
            ("reward", "last", pc.ScalarAggregateOptions(skip_nulls=True)),
            ("ts", "max"),
        ]
    )
    latest = latest.rename_columns(
        {"label_last": "label", "reward_last": "reward", "ts_max": "feedback_ts"}
    )
    requests = read_requests(log_root, model, since=since, until=until)
    # By index, not Table.join: Acero joins no list columns (class probabilities).
    where = pc.index_in(requests["request_id"], value_set=latest["request_id"])
    labeled = requests.filter(pc.is_valid(where))
    matched = latest.take(pc.drop_null(where))
    for name in ("label", "reward", "feedback_ts"):
        column = name if name not in labeled.column_names else f"{name}_feedback"
        labeled = labeled.append_column(column, matched[name])
    return labeled


def _window(since: datetime | None, until: datetime | None) -> pc.Expression | None:
    """``since <= ts < until`` as a filter that also prunes the days' folders."""
    where = None
    for bound, keep in ((since, _at_or_after), (until, _before)):
        if bound is None:
            continue
        if bound.tzinfo is None:
            raise ValueError(f"since/until: expected an aware datetime, got {bound!r}")
        clause = keep(bound.astimezone(UTC))
        where = clause if where is None else where & clause
    return where


def _at_or_after(bound: datetime) -> pc.Expression:
    return (pc.field("date") >= f"{bound:%Y-%m-%d}") & (pc.field("ts") >= bound)


def _before(bound: datetime) -> pc.Expression:
    return (pc.field("date") <= f"{bound:%Y-%m-%d}") & (pc.field("ts") < bound)


def _read(folder: str, base: pa.Schema, last: tuple[pa.Field, ...] = (), where=None) -> pa.Table:
    """Every complete file under ``folder`` as one table; columns missing from older files
    (a feature or prediction field added later) are null there. ``last``: columns every
    file has last, for an empty folder; ``where``: a pyarrow filter expression."""
    fs, path = fsspec.core.url_to_fs(folder)
    partitioning = ds.partitioning(PARTITIONS, flavor="hive")
    files = []
    if fs.isdir(path):
        found = ds.dataset(path, filesystem=fs, format="parquet", partitioning=partitioning)
        files = found.files
    schema = pa.unify_schemas([base, *(pq.read_schema(f, filesystem=fs) for f in files)])
    for column in (*last, *PARTITIONS):
        if column.name not in schema.names:
            schema = schema.append(column)
    if not files:
        return schema.empty_table()
    dataset = ds.dataset(
        files, filesystem=fs, schema=schema, format="parquet",
        partitioning=partitioning, partition_base_dir=path,
    )
    return dataset.to_table(filter=where)
