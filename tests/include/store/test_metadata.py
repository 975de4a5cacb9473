import pytest
import sqlalchemy as sa

from mlrail.store import tables as t
from mlrail.store.metadata import MetadataStore
from mlrail.store.registry import ModelRegistry


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
    assert registry.move_alias("taxi", "blessed", 1, "first", "tester", "run1")
    assert not registry.move_alias("taxi", "blessed", 1, "again", "tester", "run2")
    assert registry.move_alias("taxi", "blessed", 2, "better auc", "tester", "run3")
    assert registry.resolve("taxi", "blessed").version == 2
    history = registry.alias_history("taxi", "blessed")
    assert [(h["from_version"], h["to_version"], h["reason"]) for h in history] == [
        (None, 1, "first"),
        (1, 2, "better auc"),
    ]
    with pytest.raises(LookupError, match="known versions: \\[1, 2\\]"):
        registry.move_alias("taxi", "blessed", 7, "x", "y")


def test_alias_moves_read_as_sentences():
    from mlrail.store.lineage import alias_move

    assert alias_move(None, 1) == "set to v1 (first)"
    assert alias_move(1, 3) == "v1 -> v3"
