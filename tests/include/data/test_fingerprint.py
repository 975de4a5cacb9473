import json
import os

import pytest

from mlrail.data.dataset import iter_source, resolve_dataset
from mlrail.data.fingerprint import fingerprint_dataset


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_same_state_same_fingerprint(tmp_path):
    f = _write(tmp_path / "a.csv", "x,y\n1,2\n")
    assert fingerprint_dataset(str(f)).fingerprint == fingerprint_dataset(str(f)).fingerprint


def test_appended_rows_change_fingerprint(tmp_path):
    f = _write(tmp_path / "a.csv", "x,y\n1,2\n")
    before = fingerprint_dataset(str(f))
    with f.open("a") as handle:
        handle.write("3,4\n")
    after = fingerprint_dataset(str(f))
    assert before.fingerprint != after.fingerprint
    assert after.total_bytes == before.total_bytes + 4


def test_content_hash_sees_edit_that_keeps_size_and_mtime(tmp_path):
    f = _write(tmp_path / "a.csv", "x,y\n1,2\n")
    stat = f.stat()
    plain, hashed = fingerprint_dataset(str(f)), fingerprint_dataset(str(f), content_hash=True)
    f.write_text("x,y\n7,9\n")
    os.utime(f, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert fingerprint_dataset(str(f)).fingerprint == plain.fingerprint
    assert fingerprint_dataset(str(f), content_hash=True).fingerprint != hashed.fingerprint


def test_glob_and_directory_cover_every_file(tmp_path):
    _write(tmp_path / "d" / "p1.csv", "x\n1\n")
    _write(tmp_path / "d" / "p2.csv", "x\n2\n")
    _write(tmp_path / "d" / "_SUCCESS", "")
    by_glob = fingerprint_dataset(str(tmp_path / "d" / "*.csv"))
    by_dir = fingerprint_dataset(str(tmp_path / "d"))
    assert len(by_glob.files) == len(by_dir.files) == 2
    rows = [v for _, batch in iter_source(str(tmp_path / "d")) for v in batch.column("x")]
    assert [v.as_py() for v in rows] == [1, 2]


def test_no_match_names_the_source(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        fingerprint_dataset(str(tmp_path / "nothing-here" / "*.csv"))


def test_mismatched_files_are_refused(tmp_path):
    _write(tmp_path / "d" / "p1.csv", "x\n1\n")
    _write(tmp_path / "d" / "p2.csv", "y\n2\n")
    with pytest.raises(ValueError, match="p2.csv: columns \\['y'\\] differ"):
        list(iter_source(str(tmp_path / "d")))


def test_dataset_versions(env, tmp_path):
    f = _write(tmp_path / "a.csv", "x\n1\n")
    v1 = resolve_dataset(env.metadata, str(f))
    assert resolve_dataset(env.metadata, str(f)).id == v1.id
    with f.open("a") as handle:
        handle.write("2\n")
    v2 = resolve_dataset(env.metadata, str(f))
    assert (v1.properties["version"], v2.properties["version"]) == (1, 2)
    assert v2.external and v2.properties["files"][0]["size"] == 6


def test_a_dataset_record_summarizes_its_files_within_a_bound(env, tmp_path):
    """A folder of many files is one small record: count, bytes, a digest over the whole
    listing and the first files, never the full listing (37k files once made 6.4 MB)."""
    from mlrail.data.fingerprint import LISTED_FILES

    for i in range(LISTED_FILES + 15):
        _write(tmp_path / "d" / f"part-{i:03d}.csv", f"x\n{i}\n")
    v1 = resolve_dataset(env.metadata, str(tmp_path / "d"))
    summary = v1.properties
    assert summary["file_count"] == LISTED_FILES + 15 and summary["files_truncated"]
    assert len(summary["files"]) == LISTED_FILES
    assert summary["files"][0]["path"].endswith("part-000.csv")
    assert summary["total_bytes"] == sum(f.stat().st_size for f in (tmp_path / "d").iterdir())
    _write(tmp_path / "d" / "part-999.csv", "x\n9\n")  # past the listed files
    v2 = resolve_dataset(env.metadata, str(tmp_path / "d"))
    assert v2.properties["listing_sha256"] != summary["listing_sha256"]
    assert v2.properties["files"] == summary["files"] and v2.properties["version"] == 2
    assert len(json.dumps(v2.properties)) < 10_000
