"""The request log and the feedback log, as the model server writes them; their layout,
columns and readers are mlrail.data.serving_logs.

Each server process writes only its own files (the instance id holds host, pid and a
random part, so a restarted container with pid 1 does not reuse its names). A local file
is written under a dot name in its partition and renamed when complete; an object in a
bucket (``log_root`` a ``gs://`` URL) is uploaded under its name, and appears only when the
upload completes. Either way readers never see a partial file.

Rows are buffered and written by one background thread per log when ``max_rows`` rows are
buffered or the oldest is ``max_seconds`` old, whichever comes first, so the request path
never waits for Parquet (unless rows arrive faster than the thread writes them: at twice
``max_rows`` the appending caller writes, see ``_add``). ``close()`` writes what is left:
the server calls it on shutdown (its lifespan's exit, which uvicorn runs on SIGTERM). A
crash (SIGKILL, OOM) loses at most the unwritten buffer: under ``2 * max_rows`` rows, at
most ``max_seconds`` old. It may leave a ``.<name>.tmp`` file, which readers skip.

Rows are checked against their column types when appended (RecordError), so what is
buffered encodes. Should a batch still fail to encode, it is written row by row and only
the rows that fail are dropped; a file that cannot be written (a full disk) drops its
rows. Either way the drop is counted (``dropped_rows``, the ``on_drop`` hook: the server's
``mlrail_log_rows_dropped_total``) and logged, and the writer thread and the other rows
carry on: one bad value must never cost the rows around it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import math
import numbers
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from mlrail.data.serving_logs import (
    FEATURE_TYPES,
    FEEDBACK,
    LATENCY,
    PREDICTION,
    REQUEST_COLUMNS,
    REQUESTS,
    feedback_columns,
    file_name,
    log_folder,
    partition,
    prediction_columns,
    temporary_name,
    valid_request_id,
)

INT64 = (-(2**63), 2**63)
log = logging.getLogger(__name__)


class RecordError(ValueError):
    """A logged row or feedback is invalid; ``field`` names the field (the server's 400)."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


def default_instance_id() -> str:
    """``<host>-<pid>-<random>``: unique per process, across restarts too."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def is_sampled(request_id: str, sample_rate: float, seed: int | str) -> bool:
    """Whether a request is logged: a hash of seed and request id, so every instance of a
    request shares the decision and any number of processes agree on it."""
    digest = hashlib.blake2b(f"{seed}\0{request_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < round(sample_rate * 2**64)


def _check_bounds(max_rows: int, max_seconds: float) -> None:
    if not (isinstance(max_rows, int) and max_rows > 0):
        raise ValueError(f"max_rows: expected a positive integer, got {max_rows!r}")
    if not max_seconds > 0:
        raise ValueError(f"max_seconds: expected a positive number, got {max_seconds!r}")


class _ParquetLog:
    """Buffered, partitioned, atomically renamed Parquet files; subclasses turn rows
    (dicts with an aware ``ts``) into an Arrow table."""

    kind = ""

    def __init__(self, log_root, model: str, instance_id, max_rows: int, max_seconds: float):
        if not str(log_root):
            raise ValueError("log_root: expected a folder (settings.log_root or serving.log_root)")
        _check_bounds(max_rows, max_seconds)
        self.folder = log_folder(log_root, model, self.kind)
        self._fs, self._path = fsspec.core.url_to_fs(self.folder)
        self._local = isinstance(self._fs, fsspec.implementations.local.LocalFileSystem)
        self.model, self.instance_id = model, instance_id or default_instance_id()
        self.max_rows, self.max_seconds = max_rows, max_seconds
        self._buffer: list[dict] = []
        self._oldest = 0.0  # monotonic time of the oldest buffered row
        self._seq = 0
        self._writing = 0  # batches taken from the buffer and not yet renamed into place
        self._closed = False
        # Re-entrant: close() may run in a signal handler that interrupted append().
        self._cond = threading.Condition(threading.RLock())
        self._write_lock = threading.Lock()  # never held while waiting for _cond
        self.dropped_rows = 0
        # Called with (rows, reason) for rows that could not be written (the server counts
        # them in its metrics); set it before rows arrive.
        self.on_drop: Callable[[int, str], None] | None = None
        self._thread = threading.Thread(target=self._flusher, name=f"{self.kind}-log", daemon=True)
        self._thread.start()

    def _add(self, rows: list[dict]) -> None:
        if not rows:
            return
        with self._cond:
            if self._closed:
                raise RuntimeError(f"the {self.kind} log of {self.model} is closed")
            if not self._buffer:
                self._oldest = time.monotonic()
            self._buffer.extend(rows)
            self._cond.notify_all()
            # Backpressure: when requests outrun the flusher, the caller writes, which keeps
            # what a crash can lose under twice max_rows.
            overrun = len(self._buffer) >= 2 * self.max_rows
        if overrun:
            self.flush()

    def _flusher(self) -> None:
        while self._wait_until_due():
            try:
                self.flush()  # outside _cond: flush takes it, then the write lock
            except Exception:  # flush drops and counts what it cannot write; belt and braces
                log.exception("the %s log's writer failed; it carries on", self.kind)

    def _wait_until_due(self) -> bool:
        """Block until the buffer is full or its oldest row is max_seconds old (True), or
        the log is closed (False: close() writes the rest itself)."""
        with self._cond:
            while not self._closed:
                if not self._buffer:
                    self._cond.wait()
                    continue
                left = self._oldest + self.max_seconds - time.monotonic()
                if len(self._buffer) >= self.max_rows or left <= 0:
                    return True
                self._cond.wait(left)
            return False

    def flush(self) -> list[str]:
        """Write every buffered row now; return the files written (one per partition), as
        paths in the log's filesystem."""
        with self._cond:
            rows, self._buffer = self._buffer, []
            self._writing += 1
        try:
            with self._write_lock:
                return self._write(rows)
        finally:
            with self._cond:
                self._writing -= 1
                self._cond.notify_all()

    def close(self) -> None:
        """Write what is buffered and stop; idempotent. Later appends raise RuntimeError."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.flush()
        with self._cond:  # a batch the flusher took before we closed: wait until it is renamed
            self._cond.wait_for(lambda: self._writing == 0, timeout=30)
        self._thread.join(timeout=1)

    def _write(self, rows: list[dict]) -> list[str]:
        by_hour: dict[str, list[dict]] = {}
        for row in rows:
            by_hour.setdefault(partition(row["ts"]), []).append(row)
        written = []
        for folder, part in sorted(by_hour.items()):
            table = self._encode(part)
            if table is None:
                continue
            path = f"{self._path}/{folder}/{file_name(self.instance_id, self._seq)}"
            self._seq += 1
            try:
                self._put(table, path)
            except Exception as err:  # a full or read-only disk: these rows are lost
                self._drop(table.num_rows, err)
                continue
            written.append(path)
        return written

    def _put(self, table: pa.Table, path: str) -> None:
        """Write ``table`` at ``path`` so that readers see it complete or not at all."""
        if not self._local:  # an object appears when its upload completes
            buffer = io.BytesIO()
            pq.write_table(table, buffer)
            self._fs.pipe_file(path, buffer.getvalue())
            return
        folder, name = path.rsplit("/", 1)
        temporary = f"{folder}/{temporary_name(name)}"
        try:
            os.makedirs(folder, exist_ok=True)
            pq.write_table(table, temporary)
            os.replace(temporary, path)  # readers list the folder
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def _encode(self, rows: list[dict]) -> pa.Table | None:
        """The rows as a table; should that fail, the rows that encode alone, and the
        others dropped (None when none is left)."""
        try:
            return self._table(rows)
        except Exception:  # a value append's checks missed: find the row, keep the rest
            pass
        kept, error = [], None
        for row in rows:
            try:
                self._table([row])
            except Exception as err:
                error = err
                continue
            kept.append(row)
        if error is not None:
            self._drop(len(rows) - len(kept), error)
        return self._table(kept) if kept else None

    def _drop(self, count: int, error: BaseException) -> None:
        reason = f"{type(error).__name__}: {error}"[:500]
        with self._cond:
            self.dropped_rows += count
        event = {"event": "log_rows_dropped", "log": self.kind, "model": self.model}
        log.error(json.dumps({**event, "rows": count, "error": reason}))
        if self.on_drop is not None:
            try:
                self.on_drop(count, reason)
            except Exception:  # a metrics hook must not stop the writer
                log.exception("the %s log's on_drop hook failed", self.kind)

    def _table(self, rows: list[dict]) -> pa.Table:
        raise NotImplementedError


def _utc(value: Any, field: str) -> datetime:
    if value is None:
        return datetime.now(UTC)
    if not isinstance(value, datetime):
        raise RecordError(field, f"expected a datetime, got {value!r}")
    # A naive time is taken as UTC: the server stamps rows with datetime.now(UTC).
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as Python values."""
    return value.tolist() if hasattr(value, "tolist") else value


def _typed(kind: pa.DataType, value: Any, field: str) -> Any:
    """``value`` as a value of the Arrow type ``kind``, or RecordError naming ``field``."""
    value = _plain(value)
    if value is None:
        return None
    if pa.types.is_list(kind):
        if not isinstance(value, list | tuple):
            raise RecordError(field, f"expected a list, got {value!r}")
        return [_typed(kind.value_type, v, field) for v in value]
    if kind == pa.string():
        if isinstance(value, bytes):  # a b64 value, decoded by the server
            return value.decode("utf-8", "replace")
        return value if isinstance(value, str) else str(value)
    if kind == pa.bool_() and isinstance(value, bool):
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if kind == pa.float64():
            return _float(value, field)
        if kind == pa.int64():
            return _int64(value, field)
    raise RecordError(field, f"expected {kind}, got {_shown(value)}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "..."


def _float(value: numbers.Real, field: str) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float
        raise RecordError(field, f"expected a float64, got {_shown(value)}") from None


def _int64(value: numbers.Real, field: str) -> int:
    """A whole number within int64 (Parquet's int64 column), else RecordError."""
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise RecordError(field, f"expected a whole number (int64), got {_shown(value)}")
    whole = int(value)
    if whole != value or not INT64[0] <= whole < INT64[1]:
        raise RecordError(field, f"expected a whole number within int64, got {_shown(value)}")
    return whole


def _kind_of(value: Any) -> pa.DataType | None:
    """The stable Arrow type of a prediction value: every number is float64."""
    value = _plain(value)
    if value is None:
        return None
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, numbers.Real):
        return pa.float64()
    if isinstance(value, str | bytes):
        return pa.string()
    if isinstance(value, list | tuple):
        kinds = [k for k in map(_kind_of, value) if k is not None]
        return pa.list_(kinds[0]) if kinds else None
    raise RecordError("prediction", f"expected numbers, strings or lists, got {value!r}")


class RequestLog(_ParquetLog):
    """The sampled request log of one model in one server process.

    ``columns`` is the model's schema (mlrail.data.schema, a Schema artifact's): each
    feature becomes a column of its type. Without it, features are typed like
    predictions. Prediction fields become ``prediction_<key>`` columns (nested dicts
    joined with ``_``), typed by the first value seen: numbers float64, strings, bools,
    lists of those. ``seed`` makes sampling reproducible (see is_sampled).
    """

    kind = REQUESTS

    def __init__(
        self,
        log_root,
        model: str,
        instance_id: str | None,
        sample_rate: float,
        max_rows: int,
        max_seconds: float,
        seed: int | None = None,
        columns: dict | None = None,
    ):
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError(f"sample_rate: expected a share between 0 and 1, got {sample_rate!r}")
        self.sample_rate = sample_rate
        self._salt = secrets.token_hex(8) if seed is None else seed
        features = (columns or {}).get("features", [])
        self._types: dict[str, pa.DataType] = {
            f["name"]: FEATURE_TYPES[f["type"]] for f in features
        }
        taken = sorted(set(self._types) & {*REQUEST_COLUMNS.names, "latency_ms"})
        if taken or any(name.startswith(PREDICTION) for name in self._types):
            raise ValueError(f"columns: feature names clash with the log's columns: {taken}")
        self._schema_features = frozenset(self._types)
        self._features = list(self._types)  # in schema order, then first seen
        self._predictions: list[str] = []
        super().__init__(log_root, model, instance_id, max_rows, max_seconds)

    def sampled(self, request_id: str) -> bool:
        """Whether this log keeps the request ``request_id``."""
        return is_sampled(request_id, self.sample_rate, self._salt)

    def append(self, rows: list[dict]) -> int:
        """Buffer the sampled share of ``rows`` (one per instance); return how many were kept.

        A row: ``request_id`` (required), ``ts`` (datetime, default now; naive is UTC),
        ``model`` (this log's, if given), ``version``, ``arm`` (default "stable"),
        ``latency_ms``, and the features and prediction fields: either nested as
        ``features`` and ``prediction`` dicts, or flat, where keys that are schema features
        are features and every other key is a prediction field. Raises RecordError naming
        the field before anything is buffered."""
        kept = [self._row(row) for row in rows if self.sampled(self._request_id(row))]
        self._add(kept)
        return len(kept)

    @staticmethod
    def _request_id(row: dict) -> str:
        request_id = row.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            raise RecordError("request_id", f"expected a non-empty string, got {request_id!r}")
        return request_id

    def _row(self, row: dict) -> dict:
        if row.get("model", self.model) != self.model:
            raise RecordError("model", f"expected {self.model!r}, got {row['model']!r}")
        values = {
            "request_id": row["request_id"],
            "ts": _utc(row.get("ts"), "ts"),
            "model": self.model,
            "version": None if row.get("version") is None else str(row["version"]),
            "arm": row.get("arm") or "stable",
            "latency_ms": _typed(pa.float64(), row.get("latency_ms"), "latency_ms"),
        }
        features = dict(row.get("features") or {})
        prediction = dict(row.get("prediction") or {})
        for key, value in row.items():  # the flat form: the schema says which are features
            if key not in values and key not in ("features", "prediction"):
                (features if key in self._schema_features else prediction)[key] = value
        for names, given in (
            (self._features, features),
            (self._predictions, prediction_columns(prediction)),
        ):
            for name, value in given.items():
                values[name] = self._column_value(names, name, value)
        return values

    def _column_value(self, names: list[str], name: str, value: Any) -> Any:
        if name not in self._types:
            kind = _kind_of(value)
            if kind is None:  # untyped until a value arrives; the column is null until then
                return None
            with self._cond:
                if name not in self._types:
                    self._types[name] = kind
                    names.append(name)
        return _typed(self._types[name], value, name)

    def _table(self, rows: list[dict]) -> pa.Table:
        with self._cond:
            names = [*self._features, *self._predictions]
            fields = [pa.field(n, self._types[n]) for n in names]
        schema = pa.schema([*REQUEST_COLUMNS, *fields, LATENCY])
        return pa.Table.from_pylist(rows, schema=schema)


class FeedbackLog(_ParquetLog):
    """Labels and rewards sent for logged requests (``POST .../feedback``).

    ``label_type`` is the schema label's type (int, float, string); the label column
    keeps it in every file. Without it labels are stored as strings. ``classes`` (the
    schema label's, for classification) is the label's domain; without it any value of
    the type is a label (a regression label: a finite number).

    A feedback for a request id this log never saw is kept: the request log samples, so
    the request may have been answered and not logged (or answered by another process),
    and the join (labeled_samples) simply finds no request for it. What bounds such rows
    is their size: an id of at most 128 characters, a label in the domain, a number."""

    kind = FEEDBACK

    def __init__(
        self,
        log_root,
        model: str,
        instance_id: str | None,
        max_rows: int,
        max_seconds: float,
        label_type: str = "string",
        classes: list | None = None,
    ):
        if label_type not in FEATURE_TYPES:
            raise ValueError(
                f"label_type: expected one of {list(FEATURE_TYPES)}, got {label_type!r}"
            )
        self._label = FEATURE_TYPES[label_type]
        self.classes = None if classes is None else list(classes)
        super().__init__(log_root, model, instance_id, max_rows, max_seconds)

    def append(self, request_id: str, label: Any = None, reward: float | None = None) -> None:
        """Buffer one feedback; RecordError naming the field when it is invalid."""
        if not valid_request_id(request_id):
            raise RecordError(
                "request_id",
                "expected 1 to 128 printable ASCII characters without spaces, "
                f"got {_shown(request_id)}",
            )
        if label is None and reward is None:
            raise RecordError("label", "a label or a reward (or both) is required")
        if reward is not None:
            reward = _typed(pa.float64(), reward, "reward")
            if not math.isfinite(reward):
                raise RecordError("reward", f"expected a finite number, got {reward!r}")
        label = self._valid_label(label)
        self._add(
            [{"request_id": request_id, "ts": datetime.now(UTC), "label": label, "reward": reward}]
        )

    def _valid_label(self, label: Any) -> Any:
        if label is None:
            return None
        label = _typed(self._label, label, "label")
        if isinstance(label, float) and not math.isfinite(label):
            raise RecordError("label", f"expected a finite number, got {label!r}")
        if isinstance(label, str) and not label.isprintable():
            raise RecordError("label", f"expected printable text, got {_shown(label)}")
        if self.classes is not None and label not in self.classes:
            raise RecordError("label", f"expected one of the classes {self.classes}, got {label!r}")
        return label

    def _table(self, rows: list[dict]) -> pa.Table:
        return pa.Table.from_pylist(rows, schema=feedback_columns(self._label))
