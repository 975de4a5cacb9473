"""Bad specs, model modules and schema files fail when the spec loads (at DAG parse time and
at each task's start), never retried, with the file, the line and the field.

Each case writes a small project (spec, model module, optionally ``p.schema.yaml``),
changes one thing, and checks the message a person on call reads.
"""

import textwrap

import pytest

from mlrail.errors import DeterministicError
from mlrail.spec import SpecError, load_spec

SPEC = """\
pipeline: p
data:
  source: data/d.csv
  label: y
train:
  module: include/models/m.py
"""
MODULE = """\
HYPERPARAMETERS = {"epochs": 1}


def build_model(schema, statistics, hyperparameters):
    raise NotImplementedError


def hyperparameter_space(hp):
    hp.Float("learning_rate", 1e-4, 1e-2)
"""
TFX_MODULE = "def run_fn(fn_args):\n    pass\n\n\ndef tuner_fn(fn_args):\n    pass\n"


def _project(tmp_path, spec=SPEC, module=MODULE, schema=None):
    """A project at ``tmp_path``: ``include/pipelines/p.yaml``, its model module and, when
    given, its schema file; returns the spec's path."""
    path = tmp_path / "include" / "pipelines" / "p.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(textwrap.dedent(spec))
    (tmp_path / "include" / "models").mkdir()
    (tmp_path / "include" / "models" / "m.py").write_text(module)
    if schema is not None:
        path.with_name("p.schema.yaml").write_text(textwrap.dedent(schema))
    return path


def _refused(path) -> str:
    """The message of the error loading ``path`` raises, which must be final (a task
    failing with it is not retried: mlrail_airflow.operators.base.final_errors)."""
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    assert isinstance(raised.value, DeterministicError | ValueError)
    return str(raised.value)


def test_the_good_project_loads(tmp_path):
    spec = load_spec(_project(tmp_path, schema="features:\n  fare: {min: 0, max: 10.5}\n"))
    assert spec.pipeline == "p" and spec.model_module().endswith("include/models/m.py")


# (spec or None for SPEC, module or None for MODULE, schema file, where, message parts)
#   where: "spec" or "schema": the file the message must start with, and ":<line>:".
CASES = {
    "unregistered training strategy": (
        SPEC + "  strategy: horovod\n",
        None,
        None,
        ("spec", 7),
        ["field 'train.strategy'", "one of single, mirrored, multi_worker, parameter_server"],
    ),
    "missing model module": (
        SPEC.replace("models/m.py", "models/gone.py"),
        None,
        None,
        ("spec", 6),
        ["field 'train.module'", "an existing model module file", "include/models/gone.py"],
    ),
    "module without build_model": (
        None,
        "def build(schema):\n    pass\n",
        None,
        ("spec", 6),
        ["field 'train.module'", "defining build_model(schema, statistics, hyperparameters)"],
    ),
    "module with a syntax error": (
        None,
        "def build_model(schema, statistics, hyperparameters)\n    pass\n",
        None,
        ("spec", 6),
        ["field 'train.module'", "a module that parses", "m.py:1: "],
    ),
    "build_model only inside a function": (
        None,
        "def make():\n    def build_model(schema, statistics, hyperparameters):\n        pass\n",
        None,
        ("spec", 6),
        ["field 'train.module'", "build_model"],
    ),
    "tuning without a search space": (
        SPEC + "tune: {enabled: true}\n",
        "def build_model(schema, statistics, hyperparameters):\n    pass\n",
        None,
        ("spec", 6),
        ["field 'train.module'", "hyperparameter_space(hp)", "tune.enabled searches it"],
    ),
    "tuner_fn beside build_model": (
        SPEC + "tune: {enabled: true}\n",
        "def build_model(s, t, h):\n    pass\n\n\ndef tuner_fn(fn_args):\n    pass\n",
        None,
        ("spec", 6),
        ["field 'train.module'", "hyperparameter_space(hp) beside build_model"],
    ),
    "tuner_fn in parallel trials": (
        SPEC + "tune: {enabled: true, parallel_trials: 2}\n",
        TFX_MODULE,
        None,
        ("spec", 7),
        ["field 'tune.parallel_trials'", "1 for a module that tunes with a TFX tuner_fn"],
    ),
    "YAML error in the schema file": (
        None,
        None,
        "features:\n  fare: {min: 0, max: [1}\n",
        ("schema", 2),
        ["field '<yaml>'", "valid YAML"],
    ),
    "schema file holding 5": (
        None,
        None,
        "5\n",
        ("schema", 1),
        ["field '<top level>'", "a mapping with pin and features, got 5"],
    ),
    "schema min is text": (
        None,
        None,
        "features:\n  trips: {}\n  fare: {min: abc}\n",
        ("schema", 3),
        ["field 'features.fare.min'", "expected a number, got 'abc'"],
    ),
    "schema max is true": (
        None,
        None,
        "features:\n  fare:\n    min: 0\n    max: true\n",
        ("schema", 4),
        ["field 'features.fare.max'", "expected a number, got True"],
    ),
    "schema unknown top-level field": (
        None,
        None,
        "pin: false\npinned: true\n",
        ("schema", 2),
        ["field 'pinned'", "one of pin, features"],
    ),
    "schema unknown feature field": (
        None,
        None,
        "features:\n  fare: {maximum: 3}\n",
        ("schema", 2),
        ["field 'features.fare.maximum'", "known fields: type, role"],
    ),
    "schema pin is text": (
        None,
        None,
        "pin: 'always'\n",
        ("schema", 1),
        ["field 'pin'", "true or false, got 'always'"],
    ),
    "schema type unknown": (
        None,
        None,
        "features:\n  fare: {type: decimal}\n",
        ("schema", 2),
        ["field 'features.fare.type'", "one of int, float, string, got 'decimal'"],
    ),
    "schema null_share above 1": (
        None,
        None,
        "features:\n  fare: {null_share: 2}\n",
        ("schema", 2),
        ["field 'features.fare.null_share'", "a share between 0 and 1"],
    ),
    "schema domain not a list": (
        None,
        None,
        "features:\n  pay: {role: categorical, domain: Cash}\n",
        ("schema", 2),
        ["field 'features.pay.domain'", "a list of the column's values, got 'Cash'"],
    ),
    "schema min above max": (
        None,
        None,
        "features:\n  fare: {min: 5, max: 1}\n",
        ("schema", 2),
        ["field 'features.fare'", "min <= max"],
    ),
    "schema features is a list": (
        None,
        None,
        "features: [fare]\n",
        ("schema", 1),
        ["field 'features'", "a mapping of column name to fields, got ['fare']"],
    ),
    "schema feature named like a script": (
        None,
        None,
        "pin: true\nfeatures:\n  '\"><script>alert(3)</script>': {type: float, role: numeric}\n",
        ("schema", 3),
        ["<script>", "a name a model can take as an input (a letter, then letters, digits or _"],
    ),
    "invalid cron": (
        SPEC + "schedule: '61 * * * *'\n",
        None,
        None,
        ("spec", 7),
        ["field 'schedule'", "a cron expression", "out of range", "got '61 * * * *'"],
    ),
    "cron of words": (
        SPEC + "schedule: every monday\n",
        None,
        None,
        ("spec", 7),
        ["field 'schedule'", "@weekly", "croniter says"],
    ),
    "cron that never fires": (
        SPEC + "schedule: '0 0 30 2 *'\n",
        None,
        None,
        ("spec", 7),
        ["field 'schedule'", "a cron expression that fires"],
    ),
    "unknown preset": (
        SPEC + "schedule: '@fortnightly'\n",
        None,
        None,
        ("spec", 7),
        ["field 'schedule'", "@once, @continuous, @hourly"],
    ),
    "empty source": (
        SPEC.replace("data/d.csv", "''"),
        None,
        None,
        ("spec", 3),
        ["field 'data.source'", "a file, folder or glob"],
    ),
    "source of an unset variable": (
        SPEC.replace("data/d.csv", "${MLRAIL_TEST_UNSET}/d.csv"),
        None,
        None,
        ("spec", 3),
        ["field 'data.source'", "environment variable MLRAIL_TEST_UNSET to be set"],
    ),
    "source of an empty default": (
        SPEC.replace("data/d.csv", "${MLRAIL_TEST_UNSET:-}"),
        None,
        None,
        ("spec", 3),
        ["field 'data.source'", "a file, folder or glob"],
    ),
    "source is the project": (
        SPEC.replace("data/d.csv", "."),
        None,
        None,
        ("spec", 3),
        ["field 'data.source'", "not the project folder", "got '.'"],
    ),
    "source above the project": (
        SPEC.replace("data/d.csv", "'..'"),
        None,
        None,
        ("spec", 3),
        ["field 'data.source'", "not the project folder", "(or above it)"],
    ),
    "label named like a script": (
        SPEC.replace("label: y", "label: '\"><script>alert(3)</script>'"),
        None,
        None,
        ("spec", 4),
        ["field 'data.label'", "a model can take as an input (a letter, then letters", "<script>"],
    ),
    "feature with a space": (
        SPEC.replace("label: y", "label: y\n  features: {include: [trip miles]}"),
        None,
        None,
        ("spec", 5),
        ["field 'data.features.include'", "names a model can take as inputs", "['trip miles']"],
    ),
    "categorical feature with a leading digit": (
        SPEC.replace("label: y", "label: y\n  features: {categorical: [1st, ok]}"),
        None,
        None,
        ("spec", 5),
        ["field 'data.features.categorical'", "['1st']"],
    ),
    "YAML error in the spec": (
        SPEC + "split: {train: 80\n",
        None,
        None,
        ("spec", 8),
        ["field '<yaml>'", "valid YAML"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_at_load_naming_file_line_and_field(tmp_path, case, monkeypatch):
    monkeypatch.delenv("MLRAIL_TEST_UNSET", raising=False)
    spec, module, schema, (where, line), parts = CASES[case]
    path = _project(tmp_path, spec or SPEC, module or MODULE, schema)
    message = _refused(path)
    file = path if where == "spec" else path.with_name("p.schema.yaml")
    assert message.startswith(f"{file}:{line}: "), message
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


@pytest.mark.parametrize(
    "module",
    [
        "from mlrail.training.tabular import build_model\n",
        "import mlrail.training.tabular as t\nbuild_model = t.build_model\n",
        "try:\n    from fast import build_model\nexcept ImportError:\n"
        "    def build_model(s, t, h):\n        pass\n",
        "from mlrail.training.tabular import *\n",
        "def __getattr__(name):\n    raise AttributeError(name)\n",
        "class build_model:\n    pass\n",
    ],
    ids=["imported", "assigned", "in a try", "star import", "module __getattr__", "a class"],
)
def test_any_module_level_binding_of_build_model_is_accepted(tmp_path, module):
    """The module is read, not imported: whatever binds the name at top level counts,
    and a module that could define any name is given the benefit of the doubt."""
    assert load_spec(_project(tmp_path, module=module)).train.module


@pytest.mark.parametrize(
    "schedule",
    ["@once", "@continuous", "@daily", "@quarterly", "@annually", "0 3 * * 1", "*/5 * * * *"],
)
def test_airflow_presets_and_cron_expressions_load(tmp_path, schedule):
    path = _project(tmp_path, spec=SPEC + f"schedule: '{schedule}'\n")
    assert load_spec(path).schedule == schedule


def test_no_schedule_is_manual_runs(tmp_path):
    assert load_spec(_project(tmp_path, spec=SPEC + "schedule: null\n")).schedule is None


def test_a_tfx_module_tunes_with_its_tuner_fn(tmp_path):
    spec = load_spec(_project(tmp_path, SPEC + "tune: {enabled: true}\n", TFX_MODULE))
    assert spec.tune.enabled


def test_the_module_is_read_not_imported(tmp_path):
    """A module whose import would fail (or take TensorFlow's 10 s) loads: the spec check
    only parses it."""
    module = "import tensorflow_not_installed_anywhere\n\n\ndef build_model(s, t, h):\n    pass\n"
    assert load_spec(_project(tmp_path, module=module))
