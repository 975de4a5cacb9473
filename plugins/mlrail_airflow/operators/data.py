"""Data operators: ingest, statistics, schema inference and validation."""

from __future__ import annotations

from mlrail_airflow.links import DataDocsLink, RunSummaryLink
from mlrail_airflow.operators.base import MlrailBaseOperator


class IngestExamplesOperator(MlrailBaseOperator):
    """Fingerprints the data source, registers its version and splits it into Examples.

    The DAG param ``data_source`` overrides the spec's ``data.source`` for one run. It
    comes from whoever may trigger the DAG, so it must resolve (symlinks and ``..``
    followed) into the allowed data roots: ``data_roots`` in the connection's extra, by
    default the project's ``data`` folder and the folder of the spec's source. Anything
    else fails the task at once, naming the roots.
    """

    step = "ingest"


class ComputeStatisticsOperator(MlrailBaseOperator):
    """Per-split feature statistics, reused from the cache for a known dataset version."""

    step = "statistics"


class InferSchemaOperator(MlrailBaseOperator):
    """Schema (types, roles, ranges, domains) inferred from the train-split statistics."""

    step = "schema"


class ValidateDataOperator(MlrailBaseOperator):
    """Validates every split against the schema; fails on blocking anomalies, listing them.

    Runs the schema checks on the statistics and Great Expectations (generated suite plus
    the user's suites) on each split. Blocking anomalies raise BlockingAnomaliesError, which
    the base class turns into a failure without retries: the data will not fix itself. The
    GX Data Docs of the run are one click away (extra link "GX Data Docs").
    """

    step = "validate"
    operator_extra_links = (RunSummaryLink(), DataDocsLink())
