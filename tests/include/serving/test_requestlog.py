"""The request and feedback logs on real Parquet files, written by real processes."""

import multiprocessing
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mlrail.data.serving_logs import labeled_samples, read_requests
from mlrail.serving.requestlog import FeedbackLog, RecordError, RequestLog, is_sampled

SCHEMA = {
    "label": {"name": "big_tipper", "type": "int"},
    "features": [
        {"name": "trip_miles", "type": "float"},
        {"name": "trip_seconds", "type": "int"},
        {"name": "payment_type", "type": "string"},
    ],
}
SPAWN = multiprocessing.get_context("spawn")


def _rows(ids, ts=None, instances=1):
    """Flat rows as the server logs them: features and prediction fields side by side."""
    return [
        {
            "request_id": rid,
            "ts": ts,
            "model": "taxi",
            "version": 3,
            "arm": "stable",
            "trip_miles": 1.5,
            "trip_seconds": 300,
            "payment_type": "Cash",
            "score": 0.25,
            "probabilities": [0.75, 0.25],
            "latency_ms": 1.0,
        }
        for rid in ids
        for _ in range(instances)
    ]


def _log(root, **kwargs):
    bounds = {"sample_rate": 1.0, "max_rows": 10_000, "max_seconds": 3600.0, "seed": 7}
    return RequestLog(root, "taxi", kwargs.pop("instance_id", None), **{**bounds, **kwargs})


def _wait_for(predicate, limit=20.0):
    """Poll until ``predicate()`` holds; a bound on waiting, not an assertion on time."""
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.001)


def _files(root, kind="requests"):
    return sorted((Path(root) / "taxi" / kind).rglob("*.parquet"))


def test_sampling_keeps_exactly_the_seeded_share_and_whole_requests(tmp_path):
    ids = [f"req-{i}" for i in range(1000)]
    log = _log(tmp_path, sample_rate=0.3, seed=11)
    kept = log.append(_rows(ids, instances=2))
    log.close()
    expected = {rid for rid in ids if is_sampled(rid, 0.3, 11)}
    assert 250 < len(expected) < 350  # about 30 % (fixed by the seed: not a flaky bound)
    table = read_requests(tmp_path, "taxi")
    assert kept == table.num_rows == 2 * len(expected)
    assert set(table["request_id"].to_pylist()) == expected  # both instances, or neither
    assert all(is_sampled(rid, 0.0, 11) is False for rid in ids[:50])
    assert all(is_sampled(rid, 1.0, 11) for rid in ids[:50])


def _worker(root, ids, instance_id):
    log = _log(root, sample_rate=0.5, max_rows=37, instance_id=instance_id, columns=SCHEMA)
    for start in range(0, len(ids), 10):
        log.append(_rows(ids[start : start + 10]))
    log.close()


def test_two_worker_processes_lose_and_duplicate_no_row(tmp_path):
    ids = [f"req-{i}" for i in range(1200)]
    workers = [SPAWN.Process(target=_worker, args=(str(tmp_path), ids[i::2], None)) for i in (0, 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    table = read_requests(tmp_path, "taxi")
    got = table["request_id"].to_pylist()
    expected = [rid for rid in ids if is_sampled(rid, 0.5, 7)]
    assert len(got) == len(set(got)) == len(expected)
    assert set(got) == set(expected)
    names = {path.name.rsplit("-", 1)[0] for path in _files(tmp_path)}
    assert len(names) == 2  # each process wrote only its own files
    sizes = [pq.read_metadata(f).num_rows for f in _files(tmp_path)]
    assert len(sizes) >= 4  # several files per process: all read back as one table
    assert max(sizes) < 2 * 37 + 10  # what a crash could lose stays bounded by max_rows
    assert table.schema.field("trip_seconds").type == "int64"


def test_the_time_bound_writes_a_file_without_another_request(tmp_path):
    log = _log(tmp_path, max_rows=1000, max_seconds=0.3)
    log.append(_rows(["a", "b", "c"]))
    _wait_for(lambda: _files(tmp_path))
    assert read_requests(tmp_path, "taxi")["request_id"].to_pylist() == ["a", "b", "c"]
    log.close()
    assert len(_files(tmp_path)) == 1  # close had nothing left to write


def _serve_until_sigterm(root, ready):
    log = _log(root)

    def stop(signum, frame):
        log.close()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    log.append(_rows([f"req-{i}" for i in range(250)]))
    ready.set()
    while True:
        time.sleep(1)


def test_sigterm_flushes_the_buffer(tmp_path):
    ready = SPAWN.Event()
    child = SPAWN.Process(target=_serve_until_sigterm, args=(str(tmp_path), ready))
    child.start()
    assert ready.wait(60)
    assert _files(tmp_path) == []  # bounds of 10,000 rows and an hour: still buffered
    os.kill(child.pid, signal.SIGTERM)
    child.join(60)
    assert child.exitcode == 0
    assert read_requests(tmp_path, "taxi").num_rows == 250


BATCH = 20_000


def _write_forever(root):
    log = _log(root)
    batch = 0
    while True:
        log.append(_rows([f"b{batch}-{i}" for i in range(BATCH)]))
        log.flush()
        batch += 1


def _entries(root):
    return {p for p in (Path(root) / "taxi").rglob("*") if p.is_file()}


def test_a_killed_process_leaves_only_complete_files(tmp_path):
    child = SPAWN.Process(target=_write_forever, args=(str(tmp_path),))
    child.start()
    _wait_for(lambda: len(_files(tmp_path)) >= 2, limit=60)
    # Kill the moment the next file is created: in the middle of writing it.
    seen = _entries(tmp_path)
    _wait_for(lambda: _entries(tmp_path) - seen, limit=60)
    os.kill(child.pid, signal.SIGKILL)
    child.join(30)
    visible = [f for f in _entries(tmp_path) if not f.name.startswith(".")]
    assert all(pq.read_metadata(f).num_rows == BATCH for f in visible)
    assert read_requests(tmp_path, "taxi").num_rows == BATCH * len(visible)
    assert all(f.name.endswith(".parquet") for f in visible)


def test_a_buffer_across_an_hour_boundary_writes_one_file_per_partition(tmp_path):
    log = _log(tmp_path, instance_id="host-1-abc")
    midnight = datetime(2026, 1, 1, 23, 59, 59, tzinfo=UTC)
    log.append(_rows(["before"], midnight))
    log.append(_rows(["after"], midnight + timedelta(seconds=2)))
    # A time in another zone is partitioned by its UTC hour.
    log.append(_rows(["zoned"], datetime(2026, 1, 2, 1, 30, tzinfo=UTC).astimezone()))
    written = log.flush()
    log.close()
    folder = tmp_path / "taxi" / "requests"
    assert sorted(str(Path(p).relative_to(folder)) for p in written) == [
        "date=2026-01-01/hour=23/host-1-abc-000000.parquet",
        "date=2026-01-02/hour=00/host-1-abc-000001.parquet",
        "date=2026-01-02/hour=01/host-1-abc-000002.parquet",
    ]
    rows = read_requests(tmp_path, "taxi").sort_by("ts").to_pylist()
    assert [(r["request_id"], r["date"], r["hour"]) for r in rows] == [
        ("before", "2026-01-01", "23"),
        ("after", "2026-01-02", "00"),
        ("zoned", "2026-01-02", "01"),
    ]


def test_columns_are_typed_by_the_schema_and_stay_stable_across_files(tmp_path):
    log = _log(tmp_path, columns=SCHEMA)
    first = _rows(["a"])
    first[0].update(trip_seconds=300.0, score=1)  # a whole float into int, an int score
    log.append(first)
    log.flush()
    nested = {"request_id": "b", "version": "4", "latency_ms": 2.5}
    nested["features"] = {"trip_miles": 2, "trip_seconds": None, "payment_type": b"Card"}
    nested["prediction"] = {"score": 0.75, "probabilities": [0.25, 0.75], "scores": {"x": 1}}
    log.append([nested])
    with pytest.raises(RecordError) as mistyped:
        log.append(_rows(["c"]) + [{**_rows(["d"])[0], "trip_seconds": "five"}])
    assert mistyped.value.field == "trip_seconds"
    log.close()
    schemas = [pq.read_schema(f) for f in _files(tmp_path)]
    assert len(schemas) == 2
    for name in ("trip_seconds", "trip_miles", "payment_type", "prediction_score"):
        assert len({s.field(name).type for s in schemas}) == 1
    table = read_requests(tmp_path, "taxi")
    rows = {r["request_id"]: r for r in table.to_pylist()}
    assert set(rows) == {"a", "b"}  # nothing of the refused append was buffered
    assert rows["a"]["trip_seconds"] == 300 and rows["a"]["prediction_score"] == 1.0
    assert rows["b"]["payment_type"] == "Card" and rows["b"]["trip_seconds"] is None
    assert rows["b"]["prediction_scores_x"] == 1.0 and rows["a"]["prediction_scores_x"] is None
    assert rows["b"]["version"] == "4" and rows["a"]["version"] == "3"
    assert table.column_names[:5] == ["request_id", "ts", "model", "version", "arm"]


def test_close_is_idempotent_and_refuses_later_appends(tmp_path):
    log = _log(tmp_path)
    log.append(_rows(["a"]))
    log.close()
    log.close()
    with pytest.raises(RuntimeError, match="closed"):
        log.append(_rows(["b"]))
    assert read_requests(tmp_path, "taxi").num_rows == 1


@pytest.mark.parametrize(
    "request_id, label, reward, field",
    [
        ("", 1, None, "request_id"),
        (None, 1, None, "request_id"),
        ("r1", None, None, "label"),
        ("r1", "yes", None, "label"),
        ("r1", 1.5, None, "label"),
        ("r1", None, "high", "reward"),
        ("r1", None, float("nan"), "reward"),
        ("r1", True, None, "label"),
        # Once accepted, then the flush overflowed and lost the whole batch.
        ("r1", 2**70, None, "label"),
        ("r1", 1e19, None, "label"),
        ("r1", None, 10**400, "reward"),
    ],
)
def test_invalid_feedback_names_the_field(tmp_path, request_id, label, reward, field):
    log = FeedbackLog(tmp_path, "taxi", None, 100, 3600, label_type="int")
    with pytest.raises(RecordError) as refused:
        log.append(request_id, label=label, reward=reward)
    log.close()
    assert isinstance(refused.value, ValueError) and refused.value.field == field
    assert str(refused.value).startswith(f"{field}: ")
    assert _files(tmp_path, "feedback") == []


def test_labeled_samples_join_requests_to_their_latest_feedback(tmp_path):
    requests = _log(tmp_path, columns=SCHEMA)
    requests.append(_rows(["r1", "r2", "r3"]))
    requests.close()
    assert labeled_samples(tmp_path, "taxi").num_rows == 0  # no feedback yet
    feedback = FeedbackLog(tmp_path, "taxi", None, 2, 3600, label_type="int")
    feedback.append("r1", label=1)
    feedback.append("r2", reward=0.5)
    feedback.append("r1", label=0)  # a correction, in a later file
    feedback.append("r1", reward=2.0)
    feedback.append("unknown", label=1)
    feedback.close()
    assert len(_files(tmp_path, "feedback")) >= 2
    rows = labeled_samples(tmp_path, "taxi").sort_by("request_id").to_pylist()
    got = [(r["request_id"], r["label"], r["reward"]) for r in rows]
    assert got == [("r1", 0, 2.0), ("r2", None, 0.5)]
    assert rows[0]["prediction_probabilities"] == [0.75, 0.25]
    assert rows[0]["trip_seconds"] == 300 and rows[0]["feedback_ts"] >= rows[0]["ts"]


def test_bounds_are_checked(tmp_path):
    with pytest.raises(ValueError, match="sample_rate"):
        _log(tmp_path, sample_rate=1.5)
    with pytest.raises(ValueError, match="max_rows"):
        _log(tmp_path, max_rows=0)
    with pytest.raises(ValueError, match="max_seconds"):
        FeedbackLog(tmp_path, "taxi", None, 10, 0)


@pytest.mark.parametrize(
    "value", [1e19, 2**63, -(2**63) - 1, 17.5, float("nan"), float("-inf")], ids=repr
)
def test_a_value_the_int64_column_cannot_hold_is_refused_at_append(tmp_path, value):
    log = _log(tmp_path, columns=SCHEMA)
    with pytest.raises(RecordError) as refused:
        log.append(_rows(["a"]) + [{**_rows(["b"])[0], "trip_seconds": value}])
    log.append(_rows(["c"], instances=1) + [{**_rows(["d"])[0], "trip_seconds": 2**63 - 1}])
    log.close()
    assert refused.value.field == "trip_seconds"
    assert read_requests(tmp_path, "taxi").to_pylist()[1]["trip_seconds"] == 2**63 - 1


def test_a_row_that_cannot_be_written_is_dropped_and_counted_and_no_other(tmp_path):
    """A value append lets through but Parquet cannot encode (a lone surrogate in a
    string) once made the flush raise: the batch was lost and the writer thread died."""
    log = _log(tmp_path, columns=SCHEMA, max_rows=4)
    drops = []
    log.on_drop = lambda count, reason: drops.append((count, reason))
    bad = {**_rows(["bad"])[0], "payment_type": "\ud800"}
    log.append(_rows(["a", "b"]) + [bad] + _rows(["c"]))  # a full buffer: the thread writes
    _wait_for(lambda: log.dropped_rows == 1)
    log.append(_rows(["d", "e", "f", "g"]))  # the writer thread is still there to write them
    _wait_for(lambda: "g" in read_requests(tmp_path, "taxi")["request_id"].to_pylist())
    log.close()
    assert sorted(read_requests(tmp_path, "taxi")["request_id"].to_pylist()) == list("abcdefg")
    assert drops and drops[0][0] == 1 and "UnicodeEncodeError" in drops[0][1]


def test_a_file_that_cannot_be_written_drops_its_rows_and_the_writer_carries_on(tmp_path):
    log = _log(tmp_path, max_rows=2)
    blocker = tmp_path / "taxi"
    blocker.write_text("a file where the log's folder should be")  # every write now fails
    log.append(_rows(["a", "b"]))
    _wait_for(lambda: log.dropped_rows == 2)
    blocker.unlink()
    log.append(_rows(["c", "d"]))
    _wait_for(lambda: _files(tmp_path))
    log.close()
    assert read_requests(tmp_path, "taxi")["request_id"].to_pylist() == ["c", "d"]
    assert not list(tmp_path.rglob(".*.tmp"))


def test_a_log_root_url_is_written_through_its_filesystem(tmp_path):
    """log_root ``gs://...`` in production; memory:// here: no file lands in a local
    folder named after the URL, and the readers find every row."""
    import fsspec

    root = f"memory://requestlog-{tmp_path.name}"
    log = _log(root, columns=SCHEMA, instance_id="host-1-abc")
    log.append(_rows(["a", "b"]))
    written = log.flush()
    log.append(_rows(["c"]))
    log.close()
    memory = fsspec.filesystem("memory")
    assert len(written) == 1 and memory.exists(written[0])
    assert "/taxi/requests/date=" in written[0] and written[0].endswith("-000000.parquet")
    assert sorted(read_requests(root, "taxi")["request_id"].to_pylist()) == ["a", "b", "c"]
    assert not any(Path().glob("memory:*")) and not (tmp_path / "taxi").exists()
    memory.rm(root, recursive=True)
