import textwrap

import pytest

from mlrail.spec import PipelineSpec, SpecError, load_spec
from tests.conftest import ROOT, TAXI_SPEC


def test_taxi_spec_loads():
    spec = load_spec(TAXI_SPEC)
    assert isinstance(spec, PipelineSpec)
    assert spec.model_name == "taxi_tips" and spec.split.train == 80
    assert spec.evaluation.thresholds["auc"].min == 0.70
    assert spec.resolve(spec.train.module) == str(ROOT / "include/models/taxi_tips.py")
    assert spec.resolve("gs://bucket/x.parquet") == "gs://bucket/x.parquet"


def _spec(tmp_path, body):
    path = tmp_path / "include" / "pipelines" / "p.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(textwrap.dedent(body))
    return path


GOOD = """
pipeline: p
data: {source: d.csv, label: y}
train: {module: include/models/m.py}
"""


def test_defaults_and_env_expansion(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", "/data")
    path = _spec(tmp_path, GOOD.replace("d.csv", "'${DATA_DIR}/d.csv ${MISSING:-x}'"))
    spec = load_spec(path)
    assert spec.data.source == "/data/d.csv x"
    assert spec.split.test == 10 and spec.task == "binary_classification"
    assert spec.resolve("rel.csv") == str(tmp_path / "rel.csv")


@pytest.mark.parametrize(
    "body, field, expected",
    [
        ("pipeline: p\ntrain: {module: m.py}\n", "data", "required"),
        (GOOD + "task: clustering\n", "task", "one of binary_classification"),
        (GOOD + "split: {train: 70, eval: 10, test: 10}\n", "split", "summing to 100"),
        (GOOD + "split: {train: eighty}\n", "split.train", "an integer"),
        (GOOD + "statistics: {topk: 3}\n", "statistics.topk", "known fields"),
        (
            GOOD + "evaluation: {thresholds: {auc: {min: 0.9, max: 0.1}}}\n",
            "evaluation.thresholds",
            "min <= max",
        ),
        (
            GOOD + "evaluation: {thresholds: {f1: {min: 0.9}}}\n",
            "evaluation.thresholds.f1",
            "one of auc",
        ),
        (
            GOOD + "validation: {max_unseen_category_share: 5}\n",
            "validation.max_unseen_category_share",
            "between 0 and 1",
        ),
        (GOOD.replace("pipeline: p", "pipeline: Bad-Name"), "pipeline", "lower_snake_case"),
        (GOOD + "data: [1]\n", "data", "a mapping"),
        (
            GOOD.replace(
                "{module: include/models/m.py}",
                "{module: m.py, stages: [{learning_rate: 0, batch_size: 8, epochs: 1}]}",
            ),
            "train.stages",
            "a positive learning_rate",
        ),
        (
            GOOD.replace(
                "{module: include/models/m.py}",
                "{module: m.py, stages: [{learning_rate: 0.1, epochs: 1}]}",
            ),
            "train.stages[0].batch_size",
            "required",
        ),
    ],
)
def test_errors_name_file_and_field(tmp_path, body, field, expected):
    path = _spec(tmp_path, body)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert str(path) in message and f"field '{field}'" in message and expected in message


def test_yaml_syntax_error(tmp_path):
    with pytest.raises(SpecError, match="valid YAML"):
        load_spec(_spec(tmp_path, "pipeline: [unclosed\n"))


def test_stages_load_in_order(tmp_path):
    body = GOOD.replace(
        "{module: include/models/m.py}",
        "{module: m.py, stages: ["
        "{learning_rate: 0.01, batch_size: 64, epochs: 2},"
        "{learning_rate: 0.001, batch_size: 512, epochs: 1}]}",
    )
    stages = load_spec(_spec(tmp_path, body)).train.stages
    assert [(s.learning_rate, s.batch_size, s.epochs) for s in stages] == [
        (0.01, 64, 2),
        (0.001, 512, 1),
    ]
