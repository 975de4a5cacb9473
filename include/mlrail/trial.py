"""One tuning trial inside a Vertex AI HyperparameterTuningJob.

    python -m mlrail.trial --train-data T --eval-data E --schema S --statistics ST \\
        --module M --space SPACE.json --defaults '{...}' --steps N --objective val_auc \\
        --learning_rate=0.003 --hidden_units=64,32 ...

Vertex AI appends the trial's values as ``--<name>=<value>``; they are cast back to the
types the module's ``hyperparameter_space`` declared. The trial trains ``--steps`` steps
(the tune spec's share of a full training, as local trials do), evaluates on the eval
split and reports the objective with Vertex AI's hypertune protocol (cloudml-hypertune).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _read(path_or_json: str) -> dict:
    text = path_or_json if path_or_json.lstrip().startswith("{") else Path(path_or_json).read_text()
    return json.loads(text)


def trial_values(extra: list[str], space: dict) -> dict:
    """``--name=value`` / ``--name value`` arguments as typed hyperparameter values."""
    from mlrail.cloud.vertex import cast_values, fixed_values

    raw, pending = {}, None
    for token in extra:
        if pending is not None:
            raw[pending], pending = token, None
        elif token.startswith("--") and "=" in token:
            name, value = token[2:].split("=", 1)
            raw[name] = value
        elif token.startswith("--"):
            pending = token[2:]
        else:
            raise ValueError(f"unexpected trial argument {token!r}: expected --name=value")
    unknown = sorted(set(raw) - {e["config"]["name"] for e in space["space"]})
    if unknown:
        raise ValueError(f"trial values {unknown} are not in the module's hyperparameter space")
    return {**fixed_values(space), **cast_values(space, raw)}


def run(args: argparse.Namespace, values: dict) -> float:
    """Train the trial and return its objective on the eval split."""
    import hypertune
    import keras

    from mlrail.training.feeder import FeederConfig, make_dataset
    from mlrail.training.modules import load_model_module

    schema = json.loads(Path(args.schema).read_text())
    features = json.loads(Path(args.statistics).read_text())["splits"]["train"]["features"]
    hparams = {**_read(args.defaults), **values}
    keras.utils.set_random_seed(args.seed)
    model = load_model_module(args.module).build_model(schema, features, hparams)
    batch = int(hparams["batch_size"])
    train = make_dataset(
        [args.train_data], schema, FeederConfig(batch_size=batch, seed=args.seed, repeat=True)
    )
    evaluation = make_dataset([args.eval_data], schema, FeederConfig(batch_size=batch))
    history = model.fit(
        train, validation_data=evaluation, epochs=1, steps_per_epoch=args.steps, verbose=0
    )
    if args.objective not in history.history:
        raise ValueError(
            f"tune.objective {args.objective!r} is not a metric of the model; it reports "
            f"{sorted(history.history)}"
        )
    score = float(history.history[args.objective][-1])
    hypertune.HyperTune().report_hyperparameter_tuning_metric(
        hyperparameter_metric_tag=args.objective, metric_value=score, global_step=args.steps
    )
    return score


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mlrail.trial", description=__doc__)
    for name in ("train-data", "eval-data", "schema", "statistics", "module", "space"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--defaults", required=True, help="JSON: the module's defaults")
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--objective", default="val_auc")
    parser.add_argument("--seed", type=int, default=42)
    return parser


def main(argv: list[str] | None = None) -> int:
    args, extra = build_parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    values = trial_values(extra, _read(args.space))
    score = run(args, values)
    print(json.dumps({"values": values, args.objective: score}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
