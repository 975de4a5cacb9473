"""The request and feedback logs' readers, on Parquet files laid out as the contract says
(written here with pyarrow, not by the server: a reader needs only the layout)."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlrail.data.serving_logs import (
    FEEDBACK,
    LATENCY,
    REQUEST_COLUMNS,
    REQUESTS,
    feedback_columns,
    file_name,
    labeled_samples,
    log_folder,
    partition,
    read_feedback,
    read_requests,
    temporary_name,
)

START = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)


def _write(root, log, rows, schema, seq):
    """One file per row, in the row's partition, as a server would have named it."""
    for i, row in enumerate(rows):
        folder = Path(log_folder(root, "taxi", log)) / partition(row["ts"])
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist([row], schema=schema)
        pq.write_table(table, folder / file_name("host-1-abc", seq + i))


def _requests(root, hours):
    """A request every hour from START on, ``r<h>`` at START + h hours."""
    schema = pa.schema([*REQUEST_COLUMNS, ("trip_miles", pa.float64()), LATENCY])
    rows = [
        {"request_id": f"r{h}", "ts": START + timedelta(hours=h), "model": "taxi",
         "version": "1", "arm": "stable", "trip_miles": float(h), "latency_ms": 1.0}
        for h in hours
    ]
    _write(root, REQUESTS, rows, schema, seq=0)


def _feedback(root, labels):
    """``labels``: (request id, label, hours after START it arrived)."""
    rows = [
        {"request_id": rid, "ts": START + timedelta(hours=h), "label": label, "reward": None}
        for rid, label, h in labels
    ]
    _write(root, FEEDBACK, rows, feedback_columns(pa.int64()), seq=1000)


def test_a_window_is_half_open_and_crosses_days(tmp_path):
    _requests(tmp_path, range(6))  # 22:30 on March 1 to 03:30 on March 2
    since, until = START + timedelta(hours=1), START + timedelta(hours=4)
    window = read_requests(tmp_path, "taxi", since=since, until=until)
    assert sorted(window["request_id"].to_pylist()) == ["r1", "r2", "r3"]
    assert set(window["date"].to_pylist()) == {"2026-03-01", "2026-03-02"}
    # A bound in another zone is the same instant.
    zoned = read_requests(tmp_path, "taxi", since=since.astimezone(), until=until)
    assert zoned.num_rows == 3
    assert read_requests(tmp_path, "taxi", until=START).num_rows == 0
    assert read_requests(tmp_path, "taxi").num_rows == 6
    with pytest.raises(ValueError, match="aware"):
        read_requests(tmp_path, "taxi", since=datetime(2026, 3, 1))


def test_an_unwritten_log_reads_as_empty_with_the_contract_columns(tmp_path):
    empty = read_requests(tmp_path, "taxi")
    assert empty.num_rows == 0
    assert empty.column_names[:5] == REQUEST_COLUMNS.names
    assert {"latency_ms", "date", "hour"} <= set(empty.column_names)
    assert read_feedback(tmp_path, "taxi").num_rows == 0
    assert labeled_samples(tmp_path, "taxi").num_rows == 0


def test_a_partial_file_is_never_read(tmp_path):
    _requests(tmp_path, [0])
    folder = Path(log_folder(tmp_path, "taxi", REQUESTS)) / partition(START)
    (folder / temporary_name(file_name("host-2-def", 0))).write_bytes(b"PAR1 half")
    assert read_requests(tmp_path, "taxi")["request_id"].to_pylist() == ["r0"]


def test_labeled_samples_in_a_window_count_late_feedback(tmp_path):
    _requests(tmp_path, range(4))
    # r0 lies before the window, r3 after it; r2's label arrives after the window ends.
    _feedback(tmp_path, [("r0", 1, 1.5), ("r1", 0, 1.5), ("r2", 1, 9), ("r3", 1, 3.5)])
    since, until = START + timedelta(hours=1), START + timedelta(hours=3)
    rows = labeled_samples(tmp_path, "taxi", since=since, until=until).to_pylist()
    assert sorted((r["request_id"], r["label"]) for r in rows) == [("r1", 0), ("r2", 1)]
    assert read_feedback(tmp_path, "taxi", until=since).num_rows == 0


def test_a_log_under_a_url_is_read_through_its_filesystem(tmp_path):
    """Any fsspec URL (gs:// in production; memory:// here, in this process)."""
    import fsspec

    _requests(tmp_path, range(3))
    memory = fsspec.filesystem("memory")
    root = f"memory://logs-{tmp_path.name}"
    memory.put(str(tmp_path / "taxi"), f"{root}/taxi", recursive=True)
    assert sorted(read_requests(root, "taxi")["request_id"].to_pylist()) == ["r0", "r1", "r2"]
    window = read_requests(root, "taxi", since=START + timedelta(hours=2))
    assert window["request_id"].to_pylist() == ["r2"]
    memory.rm(root, recursive=True)
