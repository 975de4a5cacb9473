"""mlrail operators. Each builds one config, calls one core function and returns ids."""

from mlrail_airflow.operators.data import (
    ComputeStatisticsOperator,
    InferSchemaOperator,
    IngestExamplesOperator,
    ValidateDataOperator,
)
from mlrail_airflow.operators.model import (
    EvaluateModelOperator,
    PushModelOperator,
    TrainModelOperator,
    TuneHyperparametersOperator,
)
from mlrail_airflow.operators.sandbox import (
    StartSandboxOperator,
    StopSandboxOperator,
    ValidateSandboxOperator,
)

__all__ = [
    "ComputeStatisticsOperator",
    "EvaluateModelOperator",
    "InferSchemaOperator",
    "IngestExamplesOperator",
    "PushModelOperator",
    "StartSandboxOperator",
    "StopSandboxOperator",
    "TrainModelOperator",
    "TuneHyperparametersOperator",
    "ValidateDataOperator",
    "ValidateSandboxOperator",
]
