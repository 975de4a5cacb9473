"""The tasks a spec can name (``task:``); what each produces is in spec.metrics."""

BINARY = "binary_classification"
MULTICLASS = "multiclass_classification"
REGRESSION = "regression"
TASKS = (BINARY, MULTICLASS, REGRESSION)
CLASSIFICATION = frozenset({BINARY, MULTICLASS})
