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

__all__ = [
    "ComputeStatisticsOperator",
    "EvaluateModelOperator",
    "InferSchemaOperator",
    "IngestExamplesOperator",
    "PushModelOperator",
    "TrainModelOperator",
    "TuneHyperparametersOperator",
    "ValidateDataOperator",
]
