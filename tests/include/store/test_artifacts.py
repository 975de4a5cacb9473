import json
from pathlib import Path

import fsspec
import pytest

from mlrail.store.artifacts import MARKER, ArtifactStore, UncommittedArtifactError


@pytest.fixture
def store(tmp_path):
    return ArtifactStore(str(tmp_path / "root"))


def test_commit_writes_marker_last_and_reads_back(store):
    uri = store.uri_for("pipe", "run:1", "stats", 3, "out")
    with store.write(uri) as staged:
        (staged.path / "a.json").write_text('{"x": 1}')
        (staged.path / "sub").mkdir()
        (staged.path / "sub" / "b.bin").write_bytes(b"\0" * 10)
        assert not store.exists(uri)
    assert store.exists(uri)
    assert staged.info.files == {"a.json": 8, "sub/b.bin": 10}
    assert "run_1" in uri  # run ids with ':' stay one path segment
    with store.read(uri) as local:
        assert json.loads((local / "a.json").read_text()) == {"x": 1}
    assert store.read_json(uri, "a.json") == {"x": 1}


def test_failure_leaves_nothing_behind(store):
    uri = store.uri_for("pipe", "run", "train", 1, "model")
    with pytest.raises(RuntimeError, match="boom"):
        with store.write(uri) as staged:
            (staged.path / "half.bin").write_bytes(b"partial")
            raise RuntimeError("boom")
    parent = Path(uri).parent
    assert not store.exists(uri)
    assert not Path(uri).exists()
    assert list(parent.iterdir()) == []  # staging directory removed too


def test_reader_refuses_directory_without_marker(store):
    uri = store.uri_for("pipe", "run", "ingest", 1, "examples")
    Path(uri).mkdir(parents=True)
    (Path(uri) / "data.parquet").write_bytes(b"written by a task that was killed")
    assert not store.exists(uri)
    with pytest.raises(UncommittedArtifactError, match="no commit marker"):
        with store.read(uri):
            pass
    with pytest.raises(UncommittedArtifactError):
        store.read_json(uri, "data.parquet")


def test_reader_refuses_damaged_artifact(store):
    uri = store.uri_for("p", "r", "c", 1, "o")
    with store.write(uri) as staged:
        (staged.path / "f.txt").write_text("hello")
    (Path(uri) / "f.txt").write_text("hello, truncated?")
    with pytest.raises(UncommittedArtifactError, match="damaged"):
        store.verify(uri)


def test_artifacts_are_immutable(store):
    uri = store.uri_for("p", "r", "c", 1, "o")
    with store.write(uri) as staged:
        (staged.path / "f").write_text("1")
    with pytest.raises(FileExistsError):
        with store.write(uri):
            pass


def test_rewrite_over_uncommitted_leftover(store):
    uri = store.uri_for("p", "r", "c", 1, "o")
    Path(uri).mkdir(parents=True)
    (Path(uri) / "stale").write_text("left by a dead attempt")
    with store.write(uri) as staged:
        (staged.path / "fresh").write_text("ok")
    assert sorted(p.name for p in Path(uri).iterdir()) == [MARKER, "fresh"]


def test_discarded_output_is_not_committed(store):
    uri = store.uri_for("p", "r", "c", 1, "o")
    with store.write(uri) as staged:
        (staged.path / "f").write_text("1")
        staged.discard = True
    assert not store.exists(uri) and not Path(uri).exists()


def test_object_store_url(tmp_path):
    store = ArtifactStore("memory://mlrail-test/root")
    uri = store.uri_for("p", "r", "c", 1, "o")
    with store.write(uri) as staged:
        (staged.path / "m.json").write_text("[1, 2]")
        assert not store.exists(uri)
    fs = fsspec.filesystem("memory")
    assert fs.exists(uri + "/" + MARKER)
    assert store.read_json(uri, "m.json") == [1, 2]
    with store.read(uri) as local:
        assert (local / "m.json").read_text() == "[1, 2]"


def test_same_content_same_fingerprint(store):
    infos = []
    for i in range(2):
        with store.write(store.uri_for("p", f"r{i}", "c", i, "o")) as staged:
            (staged.path / "f").write_text("same")
        infos.append(staged.info)
    assert infos[0].fingerprint == infos[1].fingerprint
