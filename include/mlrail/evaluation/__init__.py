"""Evaluation: metrics per task, predictions of an exported model, blessing verdicts."""
