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


MODULE = "def build_model(schema, statistics, hyperparameters):\n    raise NotImplementedError\n"


def _spec(tmp_path, body):
    """The spec ``body`` in a project at ``tmp_path`` whose model modules (``m.py`` and
    ``include/models/m.py``) define build_model."""
    path = tmp_path / "include" / "pipelines" / "p.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(textwrap.dedent(body))
    (tmp_path / "include" / "models").mkdir()
    for module in (tmp_path / "m.py", tmp_path / "include" / "models" / "m.py"):
        module.write_text(MODULE)
    return path


GOOD = """
pipeline: p
data: {source: d.csv, label: y}
train: {module: include/models/m.py}
"""
SPEC_ONLY = """
pipeline: p
task: {task}
data: {{source: d.csv, label: y}}
"""


def test_defaults_and_env_expansion(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", "/data")
    monkeypatch.setenv("EMPTY", "")
    path = _spec(tmp_path, GOOD.replace("d.csv", "'${DATA_DIR}/d.csv ${MISSING:-x}${EMPTY:-y}'"))
    spec = load_spec(path)
    assert spec.data.source == "/data/d.csv xy"
    assert spec.split.test == 10 and spec.task == "binary_classification"
    assert spec.resolve("rel.csv") == str(tmp_path / "rel.csv")


def test_unset_variable_is_an_error_naming_the_field(tmp_path, monkeypatch):
    monkeypatch.delenv("DATA_DIR", raising=False)
    path = _spec(tmp_path, GOOD.replace("d.csv", "'${DATA_DIR}/d.csv'"))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(info.value) == (
        f"{path}:3: field 'data.source': expected environment variable DATA_DIR to be set "
        "(or a default: ${DATA_DIR:-default})"
    )


@pytest.mark.parametrize(
    "task, objective",
    [
        ("binary_classification", "val_auc"),
        ("multiclass_classification", "val_loss"),
        ("regression", "val_loss"),
    ],
)
def test_a_spec_without_a_model_module_trains_the_built_in_model(tmp_path, task, objective):
    spec = load_spec(_spec(tmp_path, SPEC_ONLY.format(task=task)))
    assert spec.train.module == ""
    assert spec.model_module().endswith("mlrail/training/tabular.py")
    assert spec.tune.objective == "" and spec.tune_objective == objective


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
            "evaluation.thresholds.auc",
            "min <= max, got {'min': 0.9, 'max': 0.1}",
        ),
        (
            GOOD + "evaluation: {thresholds: {f1: {min: 0.9}}}\n",
            "evaluation.thresholds.f1",
            "a metric binary_classification produces: auc, accuracy, log_loss, precision, "
            "recall, got 'f1'",
        ),
        (
            GOOD + "task: regression\nevaluation: {thresholds: {auc: {min: 0.9}}}\n",
            "evaluation.thresholds.auc",
            "a metric regression produces: rmse, mae, mape, r2, got 'auc'",
        ),
        (
            GOOD + "task: regression\nevaluation: {baseline_tolerance: {auc: 0.01}}\n",
            "evaluation.baseline_tolerance.auc",
            "a metric regression produces: rmse, mae, mape, r2, got 'auc'",
        ),
        (
            GOOD + "evaluation: {baseline_tolerance: {auc: -0.1}}\n",
            "evaluation.baseline_tolerance.auc",
            "zero or a positive number, got -0.1",
        ),
        (
            GOOD + "task: multiclass_classification\ntune: {objective: val_auc}\n",
            "tune.objective",
            "one of val_loss, val_accuracy, val_log_loss, val_macro_f1",
        ),
        (
            GOOD.replace("{module: include/models/m.py}", "{early_stopping_metric: val_mape}"),
            "train.early_stopping_metric",
            "one of val_loss, val_auc",
        ),
        (
            GOOD.replace("label: y}", "label: y, features: {numeric: [a], categorical: [a]}}"),
            "data.features.numeric",
            "columns not also listed as categorical, got ['a']",
        ),
        (
            GOOD.replace("label: y}", "label: y, features: {include: [y]}}"),
            "data.features.include",
            "feature lists that do not contain the label, got 'y'",
        ),
        (
            GOOD.replace("label: y}", "label: y, positive_label: cat}")
            + "task: multiclass_classification\n",
            "data.positive_label",
            "no positive_label with task multiclass_classification",
        ),
        (
            GOOD.replace("label: y}", "label: y, positive_label: [1]}"),
            "data.positive_label",
            "a string or an integer or true or false, got [1]",
        ),
        (GOOD.replace("source: d.csv", "source: ''"), "data.source", "a file, folder or glob"),
        (
            GOOD + "validation: {unseen_label_class: fatal}\n",
            "validation.unseen_label_class",
            "one of warning, blocking, got 'fatal'",
        ),
        (
            GOOD + "validation: {max_unseen_category_share: 5}\n",
            "validation.max_unseen_category_share",
            "between 0 and 1",
        ),
        (GOOD.replace("pipeline: p", "pipeline: Bad-Name"), "pipeline", "lower_snake_case"),
        ("pipeline: p\ndata: [1]\n", "data", "a mapping"),
        (
            GOOD.replace(
                "{module: include/models/m.py}",
                "{module: m.py, stages: [{learning_rate: 0, batch_size: 8, epochs: 1}]}",
            ),
            "train.stages[0].learning_rate",
            "a positive number, got 0.0",
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


def test_numbers_in_exponent_form_are_numbers(tmp_path):
    """YAML 1.1 (PyYAML) reads 1e-3 as text: it would reach a model as a string."""
    body = GOOD.replace("m.py}", "m.py, hyperparameters: {learning_rate: 1e-3, l2: 2.5E+1}}")
    spec = load_spec(_spec(tmp_path, body + "serving: {flush_seconds: 1e2}\n"))
    assert spec.train.hyperparameters == {"learning_rate": 0.001, "l2": 25.0}
    assert spec.serving.flush_seconds == 100.0


def test_a_field_given_twice_is_refused_where_it_repeats(tmp_path):
    """YAML keeps the last value unseen; a later `workers: 500` must not slip under an
    earlier one (and errors must not point at the first)."""
    path = _spec(tmp_path, GOOD + "sandbox:\n  workers: 1\n  workers: 500\n")
    with pytest.raises(SpecError) as refused:
        load_spec(path)
    assert str(refused.value) == (
        f"{path}:7: field 'sandbox.workers': expected the field once (also on line 6)"
    )


def test_an_integer_python_cannot_read_is_a_spec_error(tmp_path):
    path = _spec(tmp_path, GOOD + "serving: {flush_rows: " + "9" * 5000 + "}\n")
    with pytest.raises(SpecError, match="valid YAML .*4300 digits"):
        load_spec(path)
