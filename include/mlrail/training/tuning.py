"""Hyperparameter tuning with KerasTuner on short runs, aware of earlier searches.

The search space comes from the model module's ``hyperparameter_space(hp)`` (KerasTuner
``HyperParameters`` calls, returning nothing: the values are read back by name). Trials
train for ``trial_fraction`` of the full training steps.

History: when the dataset changed little since the last search (row delta below
``max_row_delta``, same schema, same model code) the policy decides, with a recorded
reason, between ``reuse`` (no search: take the last best), ``narrow`` (search within
+/- epsilon of the last best) and ``full``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlrail.spec.metrics import direction

DECISIONS = ("reuse", "narrow", "full")
POLICIES = ("auto", *DECISIONS)


@dataclass(frozen=True)
class TuningState:
    """What a search ran on: compared with the last search to decide the next one."""

    rows: int
    schema_fingerprint: str
    code_version: str


def decide(
    current: TuningState,
    previous: TuningState | None,
    previous_best: dict | None,
    policy: str,
    max_row_delta: float,
) -> tuple[str, str]:
    """``(decision, reason)`` for the next search; see the module docstring."""
    if policy not in POLICIES:
        raise ValueError(f"tune.policy {policy!r}: expected one of {', '.join(POLICIES)}")
    if previous is None or previous_best is None:
        return "full", "no earlier search for this pipeline: full search"
    if policy == "full":
        return "full", "policy full: full search"
    changes = []
    if current.schema_fingerprint != previous.schema_fingerprint:
        changes.append("the schema changed")
    if current.code_version != previous.code_version:
        changes.append("the model code changed")
    delta = abs(current.rows - previous.rows) / max(1, previous.rows)
    if delta >= max_row_delta:
        changes.append(f"rows changed by {delta:.1%} (threshold {max_row_delta:.1%})")
    if changes:
        return "full", "full search: " + "; ".join(changes)
    similar = f"same schema and model code, rows changed by {delta:.1%} (< {max_row_delta:.1%})"
    if policy == "auto":
        return "reuse", f"{similar}: reusing the last best hyperparameters"
    return policy, f"{similar}: policy {policy}"


def narrowed(space: dict[str, Any], best: dict[str, Any], epsilon: float):
    """KerasTuner HyperParameters limited to +/- ``epsilon`` (relative) around ``best``;
    choices are fixed to the best value."""
    import keras_tuner as kt

    hp = kt.HyperParameters()
    for entry in space["space"]:
        config, name = entry["config"], entry["config"]["name"]
        if name not in best:
            continue
        value = best[name]
        if entry["class_name"] in ("Float", "Int"):
            low = max(config["min_value"], value * (1 - epsilon))
            high = min(config["max_value"], value * (1 + epsilon))
            if entry["class_name"] == "Int":
                hp.Int(name, int(low), max(int(low), int(round(high))))
            else:
                hp.Float(name, low, max(low, high), sampling=config.get("sampling") or "linear")
        else:
            hp.Fixed(name, value)
    return hp


def make_tuner(
    build,
    space_fn,
    *,
    algorithm: str,
    max_trials: int,
    epochs: int,
    directory: str,
    seed: int,
    objective: str,
    hyperparameters=None,
    overwrite: bool = True,
):
    """A KerasTuner tuner whose models are ``build(values)`` after ``space_fn(hp)`` declared
    the space. KerasTuner reads ``KERASTUNER_*`` from the environment here: in a parallel
    search the same call makes the chief (oracle server) or a worker (oracle client)."""
    import keras_tuner as kt

    def model_for(hp):
        space_fn(hp)
        return build({name: hp.get(name) for name in hp.values})

    common = dict(
        objective=kt.Objective(objective, direction(objective)),
        directory=directory,
        project_name="search",
        seed=seed,
        hyperparameters=hyperparameters,
        overwrite=overwrite,
    )
    if algorithm == "hyperband":
        return kt.Hyperband(model_for, max_epochs=max(2, epochs), **common)
    if algorithm == "random":
        return kt.RandomSearch(model_for, max_trials=max_trials, **common)
    raise ValueError(f"tune.algorithm {algorithm!r}: expected random or hyperband")


def results(tuner) -> tuple[dict[str, Any], dict[str, Any], list[dict]]:
    """(best values, search space config, trials) of a finished search."""
    best = tuner.get_best_hyperparameters(1)
    if not best:
        # KerasTuner keeps each failed trial's traceback; in a parallel search it is the
        # only copy left (the workers' logs are removed with them).
        errors = [t.message for t in tuner.oracle.trials.values() if t.message]
        raise RuntimeError(
            f"no trial of the search completed ({len(tuner.oracle.trials)} trials); "
            f"the first error:\n{(errors or ['(none recorded)'])[0][-2000:]}"
        )
    trials = [
        {"values": t.hyperparameters.values, "score": t.score} for t in tuner.oracle.trials.values()
    ]
    return dict(best[0].values), tuner.oracle.hyperparameters.get_config(), trials


def search(
    build,
    space_fn,
    train_data,
    eval_data,
    *,
    algorithm: str,
    max_trials: int,
    epochs: int,
    steps: int,
    directory: str,
    seed: int,
    objective: str,
    hyperparameters=None,
) -> tuple[dict[str, Any], dict[str, Any], list[dict]]:
    """Run the search in this process; return (best values, search space config, trials)."""
    tuner = make_tuner(
        build,
        space_fn,
        algorithm=algorithm,
        max_trials=max_trials,
        epochs=epochs,
        directory=directory,
        seed=seed,
        objective=objective,
        hyperparameters=hyperparameters,
    )
    tuner.search(train_data, validation_data=eval_data, **fit_kwargs(epochs, steps))
    return results(tuner)


def fit_kwargs(epochs: int, steps: int) -> dict[str, Any]:
    # shuffle=False: the feeder already shuffles, seeded (Keras cannot shuffle a dataset).
    return dict(epochs=epochs, steps_per_epoch=steps, shuffle=False, verbose=0)
