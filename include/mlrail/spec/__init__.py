"""The pipeline spec: typed sections (mlrail.spec.pipeline), the YAML loader
(mlrail.spec.loader) and the ``${VAR}`` rule (mlrail.spec.expand)."""

from mlrail.spec.errors import SpecError
from mlrail.spec.loader import load_spec
from mlrail.spec.pipeline import (
    DataSpec,
    EvaluationSpec,
    FeaturesSpec,
    PipelineSpec,
    SplitSpec,
    Stage,
    StatisticsSpec,
    Threshold,
    TrainSpec,
    TuneSpec,
    ValidationSpec,
    VertexSpec,
)
from mlrail.spec.sandbox import SandboxSpec
from mlrail.spec.serving import ServingSpec

__all__ = [
    "DataSpec",
    "EvaluationSpec",
    "FeaturesSpec",
    "PipelineSpec",
    "SandboxSpec",
    "ServingSpec",
    "SpecError",
    "SplitSpec",
    "Stage",
    "StatisticsSpec",
    "Threshold",
    "TrainSpec",
    "TuneSpec",
    "ValidationSpec",
    "VertexSpec",
    "load_spec",
]
