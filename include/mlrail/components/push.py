"""Push: publish a blessed model version for TF Serving, atomically and compare-and-set.

Only a model both blessings passed is pushed: its evaluation (ModelBlessing) and its sandbox
validation (InfraBlessing) of the same model artifact.

A push moves ``blessed`` only from the version its evaluation compared against (or from
unset, for a first model), and never to a model trained before the blessed one. Re-running
an old run's push therefore never changes what is blessed now: when ``blessed`` has moved
since, the push is refused with what to do instead. A refusal fails the task for good
(a DeterministicError, as every refused push whose model is superseded): retrying cannot
help, and the on-call person reads why in the task's error.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mlrail.deployment.aliases import BLESSED
from mlrail.deployment.copy import copy_model_atomically
from mlrail.errors import DeterministicError
from mlrail.store.files import BLESSING, PUSH
from mlrail.store.metadata import Execution
from mlrail.store.registry import AliasMovedError, ModelRegistry, OlderVersionError
from mlrail.store.runner import Component, Env, ExecutorContext, ExecutorOutput
from mlrail.store.staging import staged_by
from mlrail.verdict import FAILED, PASSED, Check, Verdict, summary_of


class StaleBlessingError(DeterministicError):
    """The blessing was decided against a blessed version that is no longer blessed."""


def rollback_sentence(run_id: str, alias: str, current: int) -> str:
    return (
        f"Not pushed: run {run_id}'s model was trained before {alias} v{current}, and a push "
        f"never rolls back: {alias} stays v{current}. To serve a model of newer data, trigger "
        f"a new training run; to go back to an older model on purpose, a person rolls back "
        f"explicitly (clearing this run's tasks cannot push it)."
    )


def stale_sentence(run_id: str, conflict: AliasMovedError) -> str:
    """Only for a model trained after the one now blessed: re-evaluating it then moves the
    alias forward (for an older one, rollback_sentence: a clear would only be refused)."""
    compared = "no blessed model" if conflict.expected is None else f"blessed v{conflict.expected}"
    return (
        f"Not pushed: run {run_id} evaluated its candidate against {compared}, but "
        f"{conflict.alias} is now v{conflict.current}. Pushing would replace v{conflict.current} "
        f"with a model never compared with it. To push this model, clear this run's evaluate "
        f"task with its downstream tasks: it is then compared with v{conflict.current}."
    )


def _refusal(
    run_id: str, registry: ModelRegistry, version: int, conflict: AliasMovedError
) -> str | None:
    """Why the push may not move the alias from where it is now, or None: the model is
    older than the alias's (never a push's move), or it was compared with another version."""
    name, alias, current = conflict.model, conflict.alias, conflict.current
    if current is None or current == version:
        return None
    if registry.trained_before(name, version, current):
        return rollback_sentence(run_id, alias, current)
    if current != conflict.expected:
        return stale_sentence(run_id, conflict)
    return None


def refusals(ctx: ExecutorContext, blessing: dict) -> list[str]:
    """Why the model may not be pushed, one reason per blessing that is missing or failed;
    none when both its evaluation and its sandbox validation let it through."""
    reasons = []
    evaluated = summary_of(blessing)
    if not evaluated["lets_through"]:
        reasons.append(f"the evaluation did not bless it ({evaluated['sentence']})")
    model = ctx.inputs["model"]
    infra = ctx.inputs.get("infra_blessing")
    if infra is None:
        reasons.append("it has no InfraBlessing: run the sandbox validation before the push")
    else:
        verdict = BLESSING.read(ctx.env.artifacts, infra)
        if verdict.get("model_artifact_id") != model.id:
            reasons.append(
                f"InfraBlessing #{infra.id} is for model artifact "
                f"{verdict.get('model_artifact_id')}, not this model ({model.id})"
            )
        elif not summary_of(verdict)["lets_through"]:
            reasons.append(f"the sandbox did not infra-bless it ({verdict['sentence']})")
    return reasons


def decision(reasons: list[str], version: int | None = None, why: str = "") -> Verdict:
    """The push as a verdict (what pages show of it): refused with ``reasons``, else
    ``version`` in place because of ``why`` (both blessings' sentences)."""
    if reasons:
        checks = tuple(Check("blessings", FAILED, reason) for reason in reasons)
    else:
        checks = (Check("blessings", PASSED, why),)
    return Verdict("push", checks, (f"Version {version} in place", "Not pushed"))


def push(ctx: ExecutorContext) -> ExecutorOutput:
    artifacts, p = ctx.env.artifacts, ctx.params
    blessing = BLESSING.read(artifacts, ctx.inputs["blessing"])
    reasons = refusals(ctx, blessing)
    if reasons:
        result = {"pushed": False, "reason": "not pushed: " + "; and ".join(reasons)}
        return ExecutorOutput(result=result, skipped=frozenset({"pushed_model"}))
    infra = BLESSING.read(artifacts, ctx.inputs["infra_blessing"])
    why = f"{blessing['sentence']} {infra['sentence']}"
    registry, name, model = ModelRegistry(ctx.env.metadata), p["model_name"], ctx.inputs["model"]
    compared = blessing.get("baseline_version")
    version = registry.register(name, model.id, ctx.execution_id)
    current = registry.resolve(name, BLESSED)
    if current is not None and current.version != version.version:
        # Refused before anything is copied; publish below re-checks inside its transaction.
        conflict = AliasMovedError(name, BLESSED, compared, current.version)
        refused = _refusal(ctx.run.run_id, registry, version.version, conflict)
        if refused is not None:
            raise StaleBlessingError(refused)
    serving_dir = Path(p["serving_root"]) / name / str(version.version)
    with artifacts.read(model.uri) as local:
        copied = copy_model_atomically(local / "saved_model", serving_dir, ctx.execution_id)
    try:
        moved = registry.publish(
            name,
            version.version,
            BLESSED,
            reason=why,
            actor=ctx.run.actor,
            expected=compared,
            run_id=ctx.run.run_id,
            execution_id=ctx.execution_id,
        )
    except (AliasMovedError, OlderVersionError) as conflict:
        if copied and registry.get(name, version.version, reserved=True).published_at is None:
            shutil.rmtree(serving_dir, ignore_errors=True)  # no server may load it
        moved_to = AliasMovedError(name, BLESSED, compared, conflict.current)
        refused = _refusal(ctx.run.run_id, registry, version.version, moved_to)
        raise StaleBlessingError(refused or str(conflict)) from None
    result = {
        "pushed": True,
        "model": name,
        "version": version.version,
        "serving_path": str(serving_dir),
        "copied": copied,
        "alias_moved": moved,
        "reason": why,
    }
    if version.published_at is not None and not (copied or moved):
        # A cleared push, or a later run with the same model: it was in place and blessed
        # already. Recording another PushedModel would be a duplicate of the first one.
        return ExecutorOutput(result=result, skipped=frozenset({"pushed_model"}))
    record = {k: result[k] for k in ("model", "version", "serving_path")}
    record["model_artifact_id"] = model.id
    PUSH.write(ctx.outputs["pushed_model"], record)
    return ExecutorOutput(properties={"pushed_model": record}, result=result)


def serving_roots(env: Env, execution: Execution | None) -> list[str]:
    """Where a push copies models: its execution's serving root, else the settings'."""
    root = execution.parameters.get("serving_root") if execution is not None else None
    return [root or env.settings.serving_root]


def push_leftovers(env: Env, execution: Execution) -> list[str]:
    """What a push that died left in the serving folder: its hidden copies under way, and
    the folder of a version it reserved but never published (a server may load it)."""
    params = execution.parameters
    if "serving_root" not in params:
        return []
    folder = Path(params["serving_root"]) / params["model_name"]
    paths = [str(p) for p in staged_by(folder, execution.id)]
    registry = ModelRegistry(env.metadata)
    for version in registry.reserved_by(params["model_name"], execution.id):
        if (folder / str(version)).exists():
            paths.append(str(folder / str(version)))
    return paths


def _verdict(result: dict) -> dict | None:
    """A push's result as a verdict: what it did, and why."""
    if "pushed" not in result:
        return None
    if result["pushed"]:
        return decision([], result.get("version"), result.get("reason", "")).summary()
    reason = result.get("reason") or "not pushed"
    return decision([reason.removeprefix("not pushed: ")]).summary()


def _describe(result: dict) -> list[str]:
    if not result.get("pushed"):
        return [result["reason"]] if result.get("reason") else []
    note = "" if result.get("copied") else " (already there; nothing copied)"
    return [f"pushed: version {result['version']} at {result['serving_path']}{note}"]


COMPONENT = Component(
    name="push",
    executor=push,
    outputs={"pushed_model": "PushedModel"},
    cacheable=False,
    leftovers=push_leftovers,
    staging_roots=serving_roots,
    reads_verdict=_verdict,
    describe=_describe,
)
