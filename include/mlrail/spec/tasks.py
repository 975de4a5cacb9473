"""The tasks a spec can name (``task:``); what each produces is in evaluation.catalog."""

BINARY = "binary_classification"
MULTICLASS = "multiclass_classification"
REGRESSION = "regression"
TASKS = (BINARY, MULTICLASS, REGRESSION)
CLASSIFICATION = frozenset({BINARY, MULTICLASS})
