"""Push through the real runner on small literal artifacts: compare-and-set on `blessed`,
one version per model, and nothing half-pushed after a kill."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlrail.components import push
from mlrail.deployment.aliases import BLESSED
from mlrail.store.registry import ModelRegistry, OlderVersionError
from mlrail.store.runner import Component, ExecutorOutput, RunInfo, run_component
from tests.conftest import ROOT


def _model(ctx):
    folder = ctx.outputs["model"] / "saved_model"
    folder.mkdir()
    (folder / "variables.data").write_text(ctx.params["weights"])
    (folder / "saved_model.pb").write_text("graph")
    return ExecutorOutput()


def _bless(ctx):
    verdict = {"blessed": ctx.params.get("blessed", True), "sentence": ctx.params["sentence"]}
    verdict["baseline_version"] = ctx.params["baseline"]
    (ctx.outputs["blessing"] / "blessing.json").write_text(json.dumps(verdict))
    return ExecutorOutput()


def _infra_bless(ctx):
    verdict = {
        "blessed": ctx.params["blessed"],
        "sentence": ctx.params["sentence"],
        "model_artifact_id": ctx.params.get("for_model", ctx.inputs["model"].id),
    }
    (ctx.outputs["infra_blessing"] / "blessing.json").write_text(json.dumps(verdict))
    return ExecutorOutput()


TRAIN = Component("train", _model, {"model": "Model"})
EVALUATE = Component("evaluate", _bless, {"blessing": "ModelBlessing"}, cacheable=False)
SANDBOX = Component("sandbox", _infra_bless, {"infra_blessing": "InfraBlessing"}, cacheable=False)
INFRA_BLESSED = "Infra-blessed: p99 latency 1.01x blessed v1's at concurrency 1."


class Runs:
    """Trains a literal model and blesses it against a given version, per run."""

    def __init__(self, env):
        self.env = env
        self.models = {}

    def evaluated(self, run_id: str, weights: str, baseline: int | None, sentence: str = ""):
        run = RunInfo("taxi", run_id=run_id, dag_id="taxi_training", task_id="train")
        model = run_component(self.env, TRAIN, {}, {"weights": weights}, run).outputs["model"]
        blessed = not sentence.startswith("Not blessed")
        if not sentence:
            sentence = f"Blessed: vs blessed v{baseline}" if baseline else "Blessed: first model"
        params = {"sentence": sentence, "baseline": baseline, "blessed": blessed}
        blessing = run_component(self.env, EVALUATE, {"model": model}, params, run)
        infra = self.sandbox(run_id, model, True, INFRA_BLESSED)
        self.models[run_id] = (model, blessing.outputs["blessing"], infra)
        return self.models[run_id]

    def sandbox(self, run_id: str, model, blessed: bool, sentence: str, **params):
        run = RunInfo("taxi", run_id=run_id, dag_id="taxi_training", task_id="validate_sandbox")
        params = {"blessed": blessed, "sentence": sentence, **params}
        verdict = run_component(self.env, SANDBOX, {"model": model}, params, run)
        return verdict.outputs["infra_blessing"]

    def push(self, run_id: str, try_number: int = 1, infra="recorded"):
        model, blessing, recorded = self.models[run_id]
        run = RunInfo(
            "taxi", run_id=run_id, dag_id="taxi_training", task_id="push", try_number=try_number
        )
        params = {"model_name": "taxi", "serving_root": self.env.settings.serving_root}
        inputs = {"model": model, "blessing": blessing}
        infra = recorded if infra == "recorded" else infra
        if infra is not None:
            inputs["infra_blessing"] = infra
        return run_component(self.env, push.COMPONENT, inputs, params, run)


@pytest.fixture
def runs(env):
    return Runs(env)


def _blessed(env) -> int:
    return ModelRegistry(env.metadata).resolve("taxi", BLESSED).version


def test_re_running_an_old_push_never_rolls_back(env, runs):
    runs.evaluated("run1", "w1", None)
    assert runs.push("run1").result["version"] == 1
    runs.evaluated("run2", "w2", 1)  # compared with v1 ...
    runs.evaluated("run3", "w3", 1)  # ... and so was this one, trained later, pushed first
    runs.evaluated("run4", "w4", 1)  # trained after run3's: pushing it would move forward
    assert runs.push("run3").result["version"] == 2 and _blessed(env) == 2

    with pytest.raises(push.StaleBlessingError) as refused:
        runs.push("run4")
    message = str(refused.value)
    assert "evaluated its candidate against blessed v1, but blessed is now v2" in message
    assert "clear this run's evaluate task" in message
    for run_id in ("run2", "run1"):  # trained before v2: a clear could only roll back
        with pytest.raises(push.StaleBlessingError) as refused:
            runs.push(run_id, try_number=2)
        message = str(refused.value)
        assert f"run {run_id}'s model was trained before blessed v2" in message
        assert "a push never rolls back" in message and "trigger a new training run" in message
        assert "clear this run's evaluate" not in message

    registry = ModelRegistry(env.metadata)
    assert _blessed(env) == 2
    assert [v.version for v in registry.versions("taxi")] == [1, 2]
    moves = [(h["from_version"], h["to_version"]) for h in registry.alias_history("taxi")]
    assert moves == [(None, 1), (1, 2)]
    serving = Path(env.settings.serving_root) / "taxi"
    assert sorted(p.name for p in serving.iterdir()) == ["1", "2"]  # run2's model: no copy

    again = runs.push("run3", try_number=2)  # the current one: a no-op
    assert again.result["pushed"] and not again.result["alias_moved"]
    assert not again.result["copied"]


def test_an_old_model_re_evaluated_against_the_blessed_one_is_not_pushed(env, runs):
    """Clearing an old run's evaluate compares its model with the blessed one on the old
    run's own test split, where it may well pass: the push still never goes back."""
    runs.evaluated("run1", "w1", None)
    runs.push("run1")
    runs.evaluated("run2", "w2", 1)
    runs.push("run2")
    model, _, infra = runs.models["run1"]
    again = RunInfo("taxi", run_id="run1", dag_id="taxi_training", task_id="evaluate")
    params = {"sentence": "Blessed: vs blessed v2", "baseline": 2, "blessed": True}
    blessing = run_component(env, EVALUATE, {"model": model}, params, again)
    runs.models["run1"] = (model, blessing.outputs["blessing"], infra)
    with pytest.raises(push.StaleBlessingError, match="run run1's model was trained before"):
        runs.push("run1", try_number=2)
    assert _blessed(env) == 2
    registry = ModelRegistry(env.metadata)
    assert [(h["from_version"], h["to_version"]) for h in registry.alias_history("taxi")] == [
        (None, 1),
        (1, 2),
    ]
    # The registry refuses it whoever calls; only a person's explicit rollback goes back.
    with pytest.raises(OlderVersionError, match="v1 of model 'taxi' was trained before v2"):
        registry.publish("taxi", 1, BLESSED, "re-evaluated", "someone", 2)
    assert registry.publish("taxi", 1, BLESSED, "v2 misbehaves", "oncall", 2, rollback=True)
    assert _blessed(env) == 1


def test_push_needs_both_blessings_of_the_same_model_and_names_what_is_missing(env, runs):
    model, _, _ = runs.evaluated("run1", "w1", None)
    slow = "Not infra-blessed: p99 latency 3.10x blessed v1's at concurrency 8"
    runs.models["run1"] = (*runs.models["run1"][:2], runs.sandbox("run1", model, False, slow))
    refused = runs.push("run1").result
    assert not refused["pushed"]
    assert refused["reason"] == f"not pushed: the sandbox did not infra-bless it ({slow})"

    missing = runs.push("run1", try_number=2, infra=None).result
    assert "it has no InfraBlessing: run the sandbox validation" in missing["reason"]

    other, _, other_infra = runs.evaluated("run2", "w2", None)
    wrong = runs.push("run1", try_number=3, infra=other_infra).result
    assert f"is for model artifact {other.id}, not this model ({model.id})" in wrong["reason"]

    registry = ModelRegistry(env.metadata)
    assert registry.versions("taxi") == [] and registry.resolve("taxi", "blessed") is None
    assert not (Path(env.settings.serving_root) / "taxi").exists()

    assert runs.push("run2").result["pushed"]
    moved = registry.alias_history("taxi")[-1]
    assert INFRA_BLESSED in moved["reason"] and "Blessed: first model" in moved["reason"]


def test_a_model_neither_blessing_passed_names_both(env, runs):
    model, blessing, _ = runs.evaluated("run1", "w1", None, "Not blessed: auc 0.61")
    failed = runs.sandbox("run1", model, False, "Not infra-blessed: peak memory 9000 MB")
    runs.models["run1"] = (model, blessing, failed)
    reason = runs.push("run1").result["reason"]
    assert reason == (
        "not pushed: the evaluation did not bless it (Not blessed: auc 0.61); and the sandbox "
        "did not infra-bless it (Not infra-blessed: peak memory 9000 MB)"
    )


def test_a_push_killed_mid_copy_leaves_nothing_visible(env, runs, settings):
    model, blessing, infra = runs.evaluated("run1", "w1", None)
    args = {"model": model.id, "blessing": blessing.id, "infra": infra.id, "run_id": "run1"}
    killed = subprocess.run(
        [sys.executable, "-m", "tests.include.components.push_worker"]
        + [json.dumps(dataclasses.asdict(settings)), json.dumps(args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    serving = Path(settings.serving_root) / "taxi"
    (partial,) = serving.iterdir()
    assert partial.name.startswith(".1.staging-e") and not (partial / "saved_model.pb").exists()
    registry = ModelRegistry(env.metadata)
    assert registry.versions("taxi") == [] and registry.resolve("taxi", "blessed") is None

    done = runs.push("run1", try_number=2)  # the retry recovers the dead push first
    assert done.result["version"] == 1 and done.result["copied"]
    assert sorted(p.name for p in serving.iterdir()) == ["1"]
    (dead,) = [e for e in env.metadata.executions(component="push") if e.try_number is None]
    assert dead.state == "interrupted"
    assert [v.version for v in registry.versions("taxi")] == [1] and _blessed(env) == 1
