"""Data operators: ingest, statistics, schema inference and validation."""

from __future__ import annotations

from typing import Any

from mlrail_airflow.operators.base import MlrailBaseOperator, artifact_id


class IngestExamplesOperator(MlrailBaseOperator):
    """Fingerprints the data source, registers its version and splits it into Examples.

    The DAG param ``data_source`` overrides the spec's ``data.source`` for one run.
    """

    def run_stage(self, env, spec, run, force, context):
        from mlrail.pipeline import ingest_examples

        source = context["params"].get("data_source") or None
        return ingest_examples(env, spec, run, force, source=source)


class ComputeStatisticsOperator(MlrailBaseOperator):
    """Per-split feature statistics, reused from the cache for a known dataset version."""

    template_fields = ("examples",)

    def __init__(self, *, examples: Any, **kwargs):
        super().__init__(**kwargs)
        self.examples = examples

    def run_stage(self, env, spec, run, force, context):
        from mlrail.pipeline import compute_statistics

        return compute_statistics(
            env, spec, run, artifact_id(self.examples, "examples", "ingest"), force
        )


class InferSchemaOperator(MlrailBaseOperator):
    """Schema (types, roles, ranges, domains) inferred from the train-split statistics."""

    template_fields = ("statistics",)

    def __init__(self, *, statistics: Any, **kwargs):
        super().__init__(**kwargs)
        self.statistics = statistics

    def run_stage(self, env, spec, run, force, context):
        from mlrail.pipeline import infer_schema

        return infer_schema(
            env, spec, run, artifact_id(self.statistics, "statistics", "statistics"), force
        )


class ValidateDataOperator(MlrailBaseOperator):
    """Validates every split against the schema; fails on blocking anomalies, listing them."""

    template_fields = ("statistics", "schema")

    def __init__(self, *, statistics: Any, schema: Any, **kwargs):
        super().__init__(**kwargs)
        self.statistics = statistics
        self.schema = schema

    def run_stage(self, env, spec, run, force, context):
        from mlrail.pipeline import validate_data

        # Blocking anomalies raise BlockingAnomaliesError, which the base class turns into a
        # failure without retries: the data will not fix itself.
        return validate_data(
            env,
            spec,
            run,
            artifact_id(self.statistics, "statistics", "statistics"),
            artifact_id(self.schema, "schema", "schema"),
            force,
        )
