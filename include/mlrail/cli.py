"""``python -m mlrail``: lineage, run summaries, cleanup, example data, the spec's reference
and the model server (``serve``, set by the spec's ``serving:`` section) from the command
line."""

from __future__ import annotations

import argparse
import json
import sys

from mlrail.store.runner import Env


def _lineage(args: argparse.Namespace) -> None:
    from mlrail.store.lineage import format_lineage, model_lineage

    report = model_lineage(Env.open(), args.model, args.version)
    print(json.dumps(report, indent=2, default=str) if args.json else format_lineage(report))


def _summary(args: argparse.Namespace) -> None:
    from mlrail.reports.summary import format_summary
    from mlrail.store.summary import run_summary

    summary = run_summary(Env.open(), args.run, prefix=args.dag_id or "")
    print(json.dumps(summary, indent=2, default=str) if args.json else format_summary(summary))


def registered_choices() -> dict[str, list[str]]:
    """Spec fields whose values are registered outside the spec, and those values."""
    from mlrail.training.strategies import STRATEGIES

    return {"train.strategy": list(STRATEGIES)}


def _spec_reference(args: argparse.Namespace) -> None:
    from mlrail.spec.reference import reference_markdown

    sys.stdout.write(reference_markdown(registered_choices()))


def _gc_sandboxes(apply: bool) -> int:
    """Stop (or, dry, list) the sandbox servers whose holder died; how many runs had some."""
    from mlrail.serving.sandbox.orphans import find_orphans, stop_orphans

    if not apply:
        orphans = find_orphans()
        for orphan in orphans:
            print(f"would stop: {orphan.describe()}")
        return len(orphans)
    orphans = stop_orphans()
    for orphan in orphans:
        print(f"stopped: {orphan.describe()}")
    return len(orphans)


def _gc(args: argparse.Namespace) -> None:
    from mlrail.components import all_components
    from mlrail.store.recovery import clean, collect

    env = Env.open()
    found = collect(env, all_components())
    sandboxes = _gc_sandboxes(args.apply)
    if not found and not sandboxes:
        print("nothing to clean: no interrupted work found")
        return
    for item in found:
        print(
            f"{'removing' if args.apply else 'would remove'}: {item.path or item.reason}"
            + (f"  ({item.reason})" if item.path else "")
        )
    total = len(found) + sandboxes
    if args.apply:
        clean(env, found)
        print(f"cleaned {total} leftover(s)")
    else:
        print(f"{total} leftover(s); nothing changed (dry run). Run with --apply to clean.")


def _datagen(args: argparse.Namespace) -> None:
    from mlrail.data.datagen import PAYMENT_MIX, TaxiConfig, generate_taxi_trips, write_dataset

    mix = dict(PAYMENT_MIX)
    for item in filter(None, (args.payment_mix or "").split(",")):
        name, _, share = item.partition("=")
        mix[name.strip()] = float(share)
    config = TaxiConfig(
        rows=args.rows,
        seed=args.seed,
        payment_mix=mix,
        airport_share=args.airport_share,
        new_company_share=args.new_company_share,
        fare_shift=args.fare_shift,
    )
    path = write_dataset(generate_taxi_trips(config), args.out)
    print(f"wrote {args.rows} taxi trips (seed {args.seed}) to {path}")


def _serve(args: argparse.Namespace) -> None:
    from mlrail.serving.config import ServerConfig, find_spec, spec_settings
    from mlrail.serving.server import serve
    from mlrail.store.settings import Settings

    settings = Settings.from_env()
    spec = find_spec(args.model, args.spec)
    flags = {
        "host": args.host,
        "port": args.port,
        "max_batch_size": args.max_batch_size,
        "batch_timeout_micros": args.batch_timeout_micros,
        "max_body_bytes": args.max_request_bytes,
        "poll_seconds": args.poll_seconds,
        "sample_rate": args.sample_rate,
        "flush_rows": args.flush_rows,
        "flush_seconds": args.flush_seconds,
    }
    given = spec_settings(spec, settings.log_root)  # the spec's serving: section ...
    given.update({k: v for k, v in flags.items() if v is not None})  # ... under the flags
    if args.no_request_log:
        given["log_root"] = None
    config = ServerConfig.from_env(
        args.model,
        settings.serving_root,
        metadata_url=settings.metadata_url,
        artifact_root=settings.artifact_root,
        **given,
    )
    where = spec.path if spec is not None else "no spec names this model: defaults"
    print(f"mlrail serve: {args.model} with the serving settings of {where}", file=sys.stderr)
    serve(config, workers=args.workers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlrail", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    lineage = commands.add_parser("lineage", help="where a model version came from and went")
    lineage.add_argument("--model", required=True)
    lineage.add_argument("--version", type=int, required=True)
    lineage.add_argument("--json", action="store_true")
    lineage.set_defaults(handler=_lineage)

    summary = commands.add_parser("summary", help="what a pipeline run did")
    summary.add_argument("--run", help="<dag_id>/<run_id>; default: the latest run")
    summary.add_argument("--dag-id", help="latest run of this DAG")
    summary.add_argument("--json", action="store_true")
    summary.set_defaults(handler=_summary)

    reference = commands.add_parser(
        "spec-reference", help="every pipeline spec field, as Markdown (docs/spec.md)"
    )
    reference.set_defaults(handler=_spec_reference)

    gc = commands.add_parser(
        "gc",
        help="find (and with --apply, remove or stop) what interrupted work left behind, "
        "including sandbox servers whose run's process was killed",
    )
    gc.add_argument("--apply", action="store_true", help="clean up; default is a dry run")
    gc.set_defaults(handler=_gc)

    datagen = commands.add_parser("datagen", help="write Chicago-taxi-like example trips")
    datagen.add_argument("--out", required=True, help="a .parquet or .csv path")
    datagen.add_argument("--rows", type=int, default=50_000)
    datagen.add_argument("--seed", type=int, default=0)
    datagen.add_argument("--payment-mix", help='serving skew, e.g. "Cash=0.7,Credit Card=0.2"')
    datagen.add_argument("--airport-share", type=float, default=0.0, help="drift: O'Hare trips")
    datagen.add_argument(
        "--new-company-share",
        type=float,
        default=0.0,
        help="drift: trips by a company never seen before",
    )
    datagen.add_argument("--fare-shift", type=float, default=1.0, help="drift: fare multiplier")
    datagen.set_defaults(handler=_datagen)

    serve = commands.add_parser(
        "serve",
        help="serve a model's pushed versions (TF Serving REST API, Vertex AI routes)",
        description="Settings come from the spec's serving: section; flags override it.",
    )
    serve.add_argument("--model", required=True)
    serve.add_argument(
        "--spec", help="the pipeline spec to take serving: from (default: the one naming --model)"
    )
    serve.add_argument("--host", help="default 127.0.0.1")
    serve.add_argument("--port", type=int, help="default $AIP_HTTP_PORT, else 8080")
    serve.add_argument("--workers", type=int, default=1, help="server processes")
    serve.add_argument("--max-batch-size", type=int, help="rows per model call")
    serve.add_argument("--batch-timeout-micros", type=int, help="how long a batch waits to fill")
    serve.add_argument("--poll-seconds", type=float, help="rescan the serving root (default 2)")
    serve.add_argument("--sample-rate", type=float, help="share of requests logged")
    serve.add_argument("--flush-rows", type=int, help="request log: rows per file at most")
    serve.add_argument("--flush-seconds", type=float, help="request log: oldest row's age")
    serve.add_argument("--max-request-bytes", type=int, help="larger bodies are a 413")
    serve.add_argument(
        "--no-request-log",
        action="store_true",
        help="log no requests (default: serving.log_root, else MLRAIL_LOG_ROOT)",
    )
    serve.set_defaults(handler=_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except (LookupError, ValueError, FileNotFoundError) as err:
        print(f"mlrail {args.command}: {err}", file=sys.stderr)
        return 2
    return 0
