import json
import sys
import textwrap

import pytest

from mlrail.store.cache import cache_key, code_version, module_closure, normalize
from mlrail.store.runner import Component, Env, ExecutorOutput, RunInfo, run_component


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request, settings):
    """The runner against both metadata backends."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres").new_database()
        settings = type(settings)(settings.artifact_root, url, settings.serving_root)
    environment = Env.open(settings)
    yield environment
    environment.metadata.close()


def test_key_is_stable_under_normalization():
    a = cache_key("c", "v1", {"x": "fp"}, {"b": [1, 2], "a": {"z": 2.0, "y": None}})
    b = cache_key("c", "v1", {"x": "fp"}, {"a": {"y": None, "z": 2}, "b": (1, 2)})
    assert a == b


@pytest.mark.parametrize(
    "change",
    [
        dict(component="other"),
        dict(version="v2"),
        dict(inputs={"x": "fp2"}),
        dict(params={"lr": 0.02}),
        dict(inputs={"y": "fp"}),
    ],
)
def test_any_change_misses(change):
    base = dict(component="c", version="v1", inputs={"x": "fp"}, params={"lr": 0.01})
    changed = {**base, **change}
    assert cache_key(
        base["component"], base["version"], base["inputs"], base["params"]
    ) != cache_key(changed["component"], changed["version"], changed["inputs"], changed["params"])


def test_normalize_rejects_unserializable():
    with pytest.raises(TypeError, match="not JSON-able"):
        normalize({"f": object()})


def _package(root, files: dict[str, str]):
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """A package ``fakepkg`` whose component imports a helper through another module,
    lazily inside a function, as mlrail's components import TensorFlow-side code."""
    _package(
        tmp_path,
        {
            "fakepkg/__init__.py": "",
            "fakepkg/component.py": """
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from fakepkg import typing_only
                def executor(ctx):
                    from fakepkg.helpers import engine
                    return engine.run(ctx)
            """,
            "fakepkg/helpers/__init__.py": "",
            "fakepkg/helpers/engine.py": "from fakepkg.helpers.rows import hash_rows\n"
            "def run(ctx):\n    return hash_rows(ctx)\n",
            "fakepkg/helpers/rows.py": "def hash_rows(ctx):\n    return 1\n",
            "fakepkg/typing_only.py": "X = 1\n",
            "fakepkg/unrelated.py": "Y = 1\n",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path / "fakepkg"
    for name in [m for m in sys.modules if m.split(".")[0] == "fakepkg"]:
        del sys.modules[name]


def test_code_version_covers_what_the_component_imports(fake_package):
    closure = set(module_closure("fakepkg.component"))
    assert closure == {
        "fakepkg",
        "fakepkg.component",
        "fakepkg.helpers",
        "fakepkg.helpers.engine",
        "fakepkg.helpers.rows",
    }
    first = code_version(modules=["fakepkg.component"])
    (fake_package / "unrelated.py").write_text("Y = 2\n")
    (fake_package / "typing_only.py").write_text("X = 2\n")
    assert code_version(modules=["fakepkg.component"]) == first
    # A helper two imports away, reached only inside a function.
    (fake_package / "helpers" / "rows.py").write_text("def hash_rows(ctx):\n    return 2\n")
    assert code_version(modules=["fakepkg.component"]) != first


def test_statistics_version_covers_the_row_hashing():
    """The row hashing feeds the duplicate counts: editing it must miss the statistics
    cache (the hand-written module list left it out)."""
    from mlrail.components import statistics

    assert "mlrail.data.hashing" in module_closure(statistics.COMPONENT.executor.__module__)


def test_code_version_follows_model_files(tmp_path):
    model = tmp_path / "model.py"
    model.write_text("a")
    before = code_version(files=[model])
    model.write_text("b")
    assert code_version(files=[model]) != before


def test_editing_an_imported_helper_misses_the_cache(env, fake_package):
    from fakepkg import component

    def executor(ctx):
        (ctx.outputs["out"] / "v.json").write_text("{}")
        return ExecutorOutput()

    executor.__module__ = component.__name__  # the component lives in fakepkg.component
    thing = Component("thing", executor, {"out": "Thing"})
    first = run_component(env, thing, {}, {}, RunInfo("p", run_id="a"))
    assert run_component(env, thing, {}, {}, RunInfo("p", run_id="b")).cached
    (fake_package / "helpers" / "rows.py").write_text("def hash_rows(ctx):\n    return 3\n")
    again = run_component(env, thing, {}, {}, RunInfo("p", run_id="c"))
    assert not again.cached and again.execution_id != first.execution_id


CALLS = []


def _count(ctx):
    CALLS.append(ctx.params)
    (ctx.outputs["out"] / "v.json").write_text(json.dumps(ctx.params))
    return ExecutorOutput(result={"n": len(CALLS)})


def _boom(ctx):
    (ctx.outputs["out"] / "half").write_text("x")
    raise ValueError("bad input column 'fare'")


COUNT = Component("count", _count, {"out": "Thing"})
BOOM = Component("boom", _boom, {"out": "Thing"})


def test_runner_caches_forces_and_recomputes_lost_outputs(env):
    CALLS.clear()
    run = RunInfo("p", run_id="r1")
    first = run_component(env, COUNT, {}, {"a": 1}, run)
    second = run_component(env, COUNT, {}, {"a": 1}, RunInfo("p", run_id="r2"))
    assert not first.cached and second.cached and second.cached_from == first.execution_id
    assert second.outputs["out"].id == first.outputs["out"].id
    assert second.result == first.result and len(CALLS) == 1
    assert env.metadata.get_execution(second.execution_id).state == "cached"

    assert not run_component(env, COUNT, {}, {"a": 2}, run).cached  # parameter change
    assert not run_component(env, COUNT, {}, {"a": 1}, run, force=True).cached
    assert len(CALLS) == 3

    # Outputs deleted behind the store's back: the cache entry is not reused.
    import shutil

    key = env.metadata.get_execution(first.execution_id).cache_key
    for execution in env.metadata.completed_with_key(key):
        shutil.rmtree(env.metadata.io_of(execution.id, "output")["out"].uri)
    assert not run_component(env, COUNT, {}, {"a": 1}, run).cached
    assert len(CALLS) == 4


def test_failed_execution_is_recorded_and_leaves_no_artifact(env, tmp_path):
    with pytest.raises(ValueError, match="fare"):
        run_component(env, BOOM, {}, {}, RunInfo("p", run_id="r"))
    (execution,) = env.metadata.executions(component="boom")
    assert execution.state == "failed" and "bad input column 'fare'" in execution.error
    assert env.metadata.io_of(execution.id, "output") == {}
    leftovers = [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]
    assert leftovers == []


def test_run_identity_is_recorded(env):
    run = RunInfo(
        "p", "abc", run_id="manual__1", dag_id="p_training", task_id="stats", try_number=2
    )
    result = run_component(env, COUNT, {}, {"z": 1}, run)
    execution = env.metadata.get_execution(result.execution_id)
    assert (execution.dag_id, execution.run_id, execution.task_id, execution.try_number) == (
        "p_training",
        "manual__1",
        "stats",
        2,
    )
    names = {c["type"]: c["name"] for c in env.metadata.contexts_of(result.execution_id)}
    assert names == {
        "pipeline": "p",
        "pipeline_version": "p@abc",
        "dag_run": "p_training/manual__1",
    }
