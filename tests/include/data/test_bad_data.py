"""Bad data and bad trigger input fail ingest at once, never retried, naming the file (and
the line, for CSV), the column, or the allowed data roots.

Every case runs the stage the DAG's ingest task runs (``ingest_examples``) on a project of
its own: ``include/pipelines/p.yaml`` reading ``data/t.parquet``, the built-in model.
"""

import dataclasses
import os
import textwrap

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlrail.components.pipeline import ingest_examples
from mlrail.data.datagen import write_dataset
from mlrail.errors import DeterministicError
from mlrail.spec import load_spec
from mlrail.store.runner import Env, RunInfo


def _frame(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "a": rng.normal(size=rows).round(3),
            "b": rng.choice(["x", "y"], size=rows),
            "c": rng.integers(0, 9, size=rows),
            "y": rng.integers(0, 2, size=rows),
        }
    )


@pytest.fixture
def project(tmp_path):
    """The project root; its spec reads data/t.parquet (written here) with label y."""
    spec = tmp_path / "include" / "pipelines" / "p.yaml"
    spec.parent.mkdir(parents=True)
    spec.write_text("pipeline: p\ndata: {source: data/t.parquet, label: y}\n")
    write_dataset(_frame(), tmp_path / "data" / "t.parquet")
    return tmp_path


def _ingest(env, project, source=None, **data):
    """Ingest ``source`` (the run's data_source) or the spec's own source with ``data``
    changes; return the error's message, which must be final (not retried by Airflow)."""
    spec = load_spec(project / "include" / "pipelines" / "p.yaml")
    if data:
        spec = dataclasses.replace(spec, data=dataclasses.replace(spec.data, **data))
    with pytest.raises(Exception) as raised:
        ingest_examples(env, spec, RunInfo(spec.pipeline, run_id="bad"), source=source)
    assert isinstance(raised.value, DeterministicError | ValueError), repr(raised.value)
    return str(raised.value)


def _write(path, content: str | bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return path


def _parquet_bytes(frame: pd.DataFrame | None = None) -> bytes:
    sink = pa.BufferOutputStream()
    table = pa.table({"a": list(range(1000)), "y": [0, 1] * 500}) if frame is None else frame
    table = table if isinstance(table, pa.Table) else pa.Table.from_pandas(frame)
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue().to_pybytes()


def _ragged(rows: int, bad_at: int) -> str:
    """A CSV file whose data row ``bad_at`` (1-based; line ``bad_at + 1``) has 2 fields."""
    lines = ["a,b,c,y"] + [f"{i}.5,x,{i % 9},{i % 2}" for i in range(rows)]
    lines[bad_at] = "7.5,x"
    return "\n".join(lines) + "\n"


def _corrupt_page() -> bytes:
    data = bytearray(_parquet_bytes())
    data[100:200] = b"\x00" * 100  # inside the first column's data page: bad snappy data
    return bytes(data)


# name -> (file under data/, its content, message parts after the file's URL)
FILES = {
    "empty CSV": ("empty.csv", "", ["the CSV file is empty (not even a header line)"]),
    "ragged CSV": (
        "ragged.csv",
        _ragged(5, 3),
        ["line 4 has 2 fields, the header has 4", "(row: '7.5,x')", "must be quoted"],
    ),
    "ragged CSV far down": (
        "long.csv",
        _ragged(5000, 4321),
        ["line 4322 has 2 fields, the header has 4"],
    ),
    "ragged CSV after a quoted line break": (
        "quoted.csv",
        'a,b,c,y\n1.5,"two\nlines",1,0\n2.5,x,2,1\n3.5,x\n',
        ["line 5 has 2 fields, the header has 4"],
    ),
    "gzip CSV that is not gzip": ("t.csv.gz", b"a,b,c,y\n1,x,2,0\n", ["not a readable CSV"]),
    "corrupt Parquet": (
        "corrupt.parquet",
        b"this is not parquet\n" * 20,
        ["not a readable Parquet file", "corrupt, truncated (still being written?)"],
    ),
    "truncated Parquet": (
        "truncated.parquet",
        _parquet_bytes()[:600],
        ["not a readable Parquet file", "magic bytes"],
    ),
    "Parquet with a corrupt page": (
        "page.parquet",
        _corrupt_page(),
        ["not a readable Parquet file"],
    ),
}


@pytest.mark.parametrize("case", list(FILES))
def test_an_unreadable_file_is_named_with_the_line(env, project, case):
    name, content, parts = FILES[case]
    path = _write(project / "data" / name, content)
    message = _ingest(env, project, source=str(path))
    assert message.startswith(f"file://{path}: "), message
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


def test_the_bad_file_of_a_folder_is_the_one_named(env, project):
    folder = project / "data" / "parts"
    write_dataset(_frame(), folder / "p1.parquet")
    _write(folder / "p2.parquet", _parquet_bytes()[:600])
    message = _ingest(env, project, source=str(folder))
    assert message.startswith(f"file://{folder / 'p2.parquet'}: not a readable Parquet file")


COLUMNS = {
    "a script": '"><script>alert(3)</script>',
    "a space": "trip miles",
    "a dash (renamed in the signature)": "trip-miles",
    "a leading digit (renamed in the signature)": "1st",
    "a dot (renamed in the signature)": "trip.miles",
    "a non-ASCII letter": "prix_é",
}


@pytest.mark.parametrize("case", list(COLUMNS))
def test_a_column_a_model_cannot_take_as_input_is_named(env, project, case):
    column = COLUMNS[case]
    path = write_dataset(_frame().assign(**{column: 1.5}), project / "data" / "named.parquet")
    message = _ingest(env, project, source=str(path))
    assert message.startswith(f"file://{path}: column {column!r} cannot be a feature or label")
    assert "a letter, then letters, digits or _" in message
    assert "list it in data.features.exclude" in message


def test_an_excluded_column_may_have_any_name(env, project):
    column = '"><script>alert(3)</script>'
    write_dataset(_frame().assign(**{column: "x"}), project / "data" / "t.parquet")
    spec = load_spec(project / "include" / "pipelines" / "p.yaml")
    features = dataclasses.replace(spec.data.features, exclude=[column])
    spec = dataclasses.replace(spec, data=dataclasses.replace(spec.data, features=features))
    result = ingest_examples(env, spec, RunInfo("p", run_id="ok"))
    assert column not in result.outputs["examples"].properties["features"]
    assert column in result.outputs["examples"].properties["columns"]


# ---- the run's data_source (the trigger form): confined to the data roots --------------


def _outside(project):
    """A real dataset outside the project's data folder."""
    return write_dataset(_frame(), project.parent / f"{project.name}-outside" / "t.parquet")


SOURCES = {
    "/etc": lambda project: "/etc",
    "/etc/passwd as CSV": lambda project: "/etc/passwd",
    "a relative .. escape": lambda project: "data/../include/pipelines/p.yaml",
    "an absolute .. escape": lambda project: f"{project}/data/../../{project.name}-outside",
    "a glob escaping with ..": lambda project: "data/../../*/t.parquet",
    "the project root": lambda project: str(project),
    "a URL outside the roots": lambda project: "gs://someone-else/t.parquet",
    "a file:// URL outside": lambda project: "file:///etc",
}


@pytest.mark.parametrize("case", list(SOURCES))
def test_a_data_source_outside_the_roots_is_refused(env, project, case):
    _outside(project)
    source = SOURCES[case](project)
    message = _ingest(env, project, source=source)
    resolved = source if source.startswith(("/", "gs:", "file:")) else str(project / source)
    assert message.startswith(f"data source {resolved!r} "), message
    assert f"outside the allowed data roots ['{project / 'data'}']: " in message, message
    assert "data_roots (the extra of the mlrail_default connection" in message


def test_a_symlink_out_of_the_data_folder_is_refused(env, project):
    outside = _outside(project)
    os.symlink(outside.parent, project / "data" / "link")
    for source in ("data/link/t.parquet", "data/link", "data/link/*.parquet"):
        message = _ingest(env, project, source=source)
        assert f"resolves to '{outside.parent}" in message, message
        assert "outside the allowed data roots" in message


def test_a_symlinked_file_inside_a_data_folder_is_refused(env, project):
    """The folder is inside the roots, one of its files is not: refused before reading."""
    outside = _outside(project)
    inbox = project / "data" / "inbox"
    write_dataset(_frame(), inbox / "real.parquet")
    os.symlink(outside, inbox / "evil.parquet")
    message = _ingest(env, project, source="data/inbox")
    assert message.startswith(f"data source '{inbox}' resolves to '{outside}', outside")


@pytest.mark.parametrize(
    "source, expected",
    [
        (["data/t.parquet"], "data source ['data/t.parquet']: expected a path or URL"),
        ({"path": "/etc"}, "data source {'path': '/etc'}: expected a path or URL"),
        ("x" * 5000, "longer than 4096 characters"),
    ],
    ids=["a list", "a mapping", "5000 characters"],
)
def test_a_data_source_that_is_not_a_path_is_refused(env, project, source, expected):
    assert expected in _ingest(env, project, source=source)


@pytest.fixture
def configured(settings, project):
    """Stores whose settings name data roots: the outside folder and a bucket prefix."""
    roots = (str(_outside(project).parent), "gs://acme-data/ml/")
    environment = Env.open(dataclasses.replace(settings, data_roots=roots))
    yield environment, roots
    environment.metadata.close()


def test_configured_roots_replace_the_defaults(configured, project):
    env, roots = configured
    message = _ingest(env, project, source="data/t.parquet")
    assert message.startswith(f"data source '{project / 'data' / 't.parquet'}' is outside")
    assert f"allowed data roots {list(roots)}" in message
    inside = ingest_examples(
        env,
        load_spec(project / "include" / "pipelines" / "p.yaml"),
        RunInfo("p", run_id="ok"),
        source=f"{roots[0]}/t.parquet",
    )
    assert inside.result["rows"]["train"] > 0


@pytest.mark.parametrize(
    "source",
    ["gs://acme-data/ml/../private/t.parquet", "gs://acme-data/mlx/t.parquet", "gs://acme-data"],
    ids=["a .. segment", "a longer prefix", "above the prefix"],
)
def test_a_url_must_lie_under_a_url_root(configured, project, source):
    env, roots = configured
    message = _ingest(env, project, source=source)
    assert message.startswith(f"data source {source!r} is outside the allowed data roots")


def test_the_spec_source_and_data_folder_sources_are_allowed(env, project):
    spec = load_spec(project / "include" / "pipelines" / "p.yaml")
    other = write_dataset(_frame(300), project / "data" / "new" / "t.parquet")
    result = ingest_examples(env, spec, RunInfo("p", run_id="one"), source="data/new/t.parquet")
    assert result.outputs["examples"].properties["splits"]["train"] > 0
    dataset = env.metadata.artifacts_at(str(other), type="Dataset")
    assert [d.properties["file_count"] for d in dataset] == [1]


def test_a_spec_source_is_not_confined(env, project, tmp_path_factory):
    """The spec's own source is the spec author's choice, wherever it is."""
    elsewhere = write_dataset(_frame(), tmp_path_factory.mktemp("elsewhere") / "t.parquet")
    spec = load_spec(project / "include" / "pipelines" / "p.yaml")
    spec = dataclasses.replace(spec, data=dataclasses.replace(spec.data, source=str(elsewhere)))
    assert ingest_examples(env, spec, RunInfo("p", run_id="one")).result["rows"]["train"] > 0


def test_the_default_roots_are_the_data_folder_and_the_source_folder(tmp_path):
    spec_path = tmp_path / "include" / "pipelines" / "p.yaml"
    spec_path.parent.mkdir(parents=True)
    spec_path.write_text(
        textwrap.dedent("""
        pipeline: p
        data: {source: "/srv/lake/taxi/*.parquet", label: y}
        """)
    )
    assert load_spec(spec_path).data_roots() == [str(tmp_path / "data"), "/srv/lake/taxi"]


def test_data_roots_come_from_the_settings_then_the_environment(monkeypatch):
    from mlrail.store.settings import Settings

    monkeypatch.setenv("MLRAIL_DATA_ROOTS", "/srv/data, gs://acme-data/ml")
    assert Settings.from_env().data_roots == ("/srv/data", "gs://acme-data/ml")
    assert Settings.from_env(data_roots=["/lake"]).data_roots == ("/lake",)
    monkeypatch.delenv("MLRAIL_DATA_ROOTS")
    assert Settings.from_env(data_roots=[]).data_roots == ()  # each spec's defaults
    with pytest.raises(ValueError, match="data_roots: expected a list of paths or URL prefixes"):
        Settings.from_env(data_roots=[3])
