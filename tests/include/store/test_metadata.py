import pytest
import sqlalchemy as sa

from mlrail.store import tables as t
from mlrail.store.metadata import MetadataStore
from mlrail.store.registry import AliasMovedError, ModelRegistry


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'm.db'}"
    else:
        url = request.getfixturevalue("postgres").new_database()
    s = MetadataStore(url)
    yield s
    s.close()


def test_schema_created_and_versioned(tmp_path, store):
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(t.schema_version.c.version)).scalar() == t.SCHEMA_VERSION
        if store.engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    again = MetadataStore(store.url)  # reopening migrates nothing and loses nothing
    assert t.migrate(again.engine) == t.SCHEMA_VERSION


def test_refuses_newer_schema(store):
    with store.engine.begin() as conn:
        conn.execute(t.schema_version.update().values(version=t.SCHEMA_VERSION + 1))
    with pytest.raises(RuntimeError, match="newer than this mlrail"):
        MetadataStore(store.url)


def test_migrates_from_an_older_version(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        t.metadata.create_all(conn, tables=[t.schema_version])
        conn.execute(t.schema_version.insert().values(id=1, version=0))
    assert t.migrate(engine) == 0
    assert "artifacts" in sa.inspect(engine).get_table_names()


def test_artifact_get_or_create(store):
    a = store.put_artifact("Dataset", "/d.csv", "fp1", {"version": 1}, external=True)
    b = store.put_artifact("Dataset", "/d.csv", "fp1", {"version": 99}, external=True)
    c = store.put_artifact("Dataset", "/d.csv", "fp2", {"version": 2}, external=True)
    assert a.id == b.id and b.properties == {"version": 1}
    assert c.id != a.id
    assert [x.id for x in store.artifacts_at("/d.csv", "Dataset")] == [a.id, c.id]
    with pytest.raises(LookupError, match="no artifact with id 999"):
        store.get_artifact(999)


def test_events_and_producer(store):
    src = store.put_artifact("Examples", "/e", "f")
    out = store.put_artifact("Model", "/m", "g")
    ex = store.start_execution(component="train", code_version="v", cache_key="k", parameters={})
    store.add_events(ex, "input", {"examples": src})
    store.add_events(ex, "output", {"model": out})
    assert store.producer_of(out.id) is None  # still running: not a producer yet
    store.finish_execution(ex, "complete", result={"ok": True})
    assert store.producer_of(out.id).id == ex
    assert store.io_of(ex, "input") == {"examples": src}
    assert [e.id for e in store.completed_with_key("k")] == [ex]


def test_contexts_group_executions(store):
    ex = store.start_execution(component="c", code_version="v", cache_key="k", parameters={})
    run = store.put_context("dag_run", "dag/run1")
    assert store.put_context("dag_run", "dag/run1") == run
    store.associate([run], ex)
    assert [e.id for e in store.executions_in_context("dag_run", "dag/run1")] == [ex]
    assert store.latest_context("dag_run", "dag/") == "dag/run1"


def test_registry_versions_aliases_and_history(store):
    registry = ModelRegistry(store)
    m1 = store.put_artifact("Model", "/m1", "a")
    m2 = store.put_artifact("Model", "/m2", "b")
    v1 = registry.register("taxi", m1.id, None)
    assert registry.register("taxi", m1.id, None).version == v1.version == 1
    v2 = registry.register("taxi", m2.id, None)
    assert v2.version == 2
    assert registry.resolve("taxi", "blessed") is None
    assert registry.publish("taxi", 1, "blessed", "first", "tester", None, "run1")
    assert not registry.publish("taxi", 1, "blessed", "again", "tester", None, "run2")
    assert registry.publish("taxi", 2, "blessed", "better auc", "tester", 1, "run3")
    assert registry.resolve("taxi", "blessed").version == 2
    history = registry.alias_history("taxi", "blessed")
    assert [(h["from_version"], h["to_version"], h["reason"]) for h in history] == [
        (None, 1, "first"),
        (1, 2, "better auc"),
    ]
    assert registry.move_alias("taxi", "blessed", 1, "rollback by hand", "oncall")
    with pytest.raises(LookupError, match="known versions: \\[1, 2\\]"):
        registry.move_alias("taxi", "blessed", 7, "x", "y")


def test_a_version_is_invisible_until_published(store):
    registry = ModelRegistry(store)
    reserved = registry.register("taxi", store.put_artifact("Model", "/m1", "a").id, None)
    assert registry.versions("taxi") == []
    with pytest.raises(LookupError, match="has no version 1"):
        registry.get("taxi", 1)
    assert registry.get("taxi", 1, reserved=True).published_at is None
    registry.publish("taxi", reserved.version, "blessed", "first", "tester", None)
    assert [v.version for v in registry.versions("taxi")] == [1]


def test_alias_moves_are_compare_and_set(store):
    """A decision taken against v1 cannot move the alias once it points elsewhere."""
    registry = ModelRegistry(store)
    for n in (1, 2, 3):
        registry.register("taxi", store.put_artifact("Model", f"/m{n}", f"fp{n}").id, None)
    registry.publish("taxi", 1, "blessed", "first", "tester", None)
    registry.publish("taxi", 3, "blessed", "v3 beat v1", "tester", 1)
    with pytest.raises(AliasMovedError, match="was v1 when this was decided and is now v3"):
        registry.publish("taxi", 2, "blessed", "v2 beat v1", "old run", 1)
    assert registry.resolve("taxi", "blessed").version == 3
    assert [v.version for v in registry.versions("taxi")] == [1, 3]  # v2 stayed unpublished
    with pytest.raises(AliasMovedError, match="was unset"):
        registry.move_alias("taxi", "blessed", 1, "x", "y", expected=None)


def test_identical_models_share_one_version(store):
    """A forced retraining that produced the same files is the same model version."""
    registry = ModelRegistry(store)
    first = registry.register("taxi", store.put_artifact("Model", "/run1/m", "same").id, None)
    again = registry.register("taxi", store.put_artifact("Model", "/run2/m", "same").id, None)
    other = registry.register("taxi", store.put_artifact("Model", "/run3/m", "new").id, None)
    assert again.version == first.version == 1 and other.version == 2
    duplicate = {"model": "taxi", "version": 9, "model_artifact_id": first.model_artifact_id}
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
        conn.execute(t.model_versions.insert().values(created_at=first.created_at, **duplicate))


def test_upgrades_a_version_1_store(tmp_path):
    """A store written before leases and publishing keeps its versions visible."""
    url = f"sqlite:///{tmp_path / 'v1.db'}"
    store = MetadataStore(url)
    model = store.put_artifact("Model", "/m", "a")
    pushed = store.put_artifact("PushedModel", "/p", "b")
    registry = ModelRegistry(store)
    registry.register("taxi", model.id, None)
    registry.set_pushed("taxi", 1, pushed.id)
    with store.engine.begin() as conn:  # back to the version-1 layout
        conn.exec_driver_sql("DROP INDEX uq_running_cache_key")
        for table, column in (
            ("executions", "owner"),
            ("executions", "lease_expires_at"),
            ("model_versions", "published_at"),
        ):
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.execute(t.schema_version.update().values(version=1))
    store.close()
    upgraded = MetadataStore(url)
    assert [v.version for v in ModelRegistry(upgraded).versions("taxi")] == [1]
    assert "uq_running_cache_key" in {
        i["name"] for i in sa.inspect(upgraded.engine).get_indexes("executions")
    }


def test_read_only_store_neither_migrates_nor_waits_for_writers(tmp_path):
    import sqlite3
    import threading

    url = f"sqlite:///{tmp_path / 'm.db'}"
    with pytest.raises(LookupError, match="no mlrail metadata recorded yet"):
        MetadataStore(url, read_only=True)
    MetadataStore(url).put_artifact("Dataset", "/d.csv", "fp", external=True)
    writer = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a training run holding the write lock
    answers = []
    reading = threading.Thread(
        target=lambda: answers.append(
            MetadataStore(url, read_only=True).artifacts_at("/d.csv")[0].fingerprint
        )
    )
    reading.start()
    reading.join(timeout=20)  # a reader that waits for the lock fails after 30 s
    writer.rollback()
    assert answers == ["fp"]


def test_alias_moves_read_as_sentences():
    from mlrail.store.lineage import alias_move

    assert alias_move(None, 1) == "set to v1 (first)"
    assert alias_move(1, 3) == "v1 -> v3"
