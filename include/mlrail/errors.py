"""The one distinction every caller of the core needs: can a retry help?

A :class:`DeterministicError` means the same inputs fail the same way: a wrong field in
the spec, a column of the wrong type, a label the task cannot learn, blocking anomalies.
Airflow fails such a task at once, without retries, with the message; anything else
(a file that has not arrived, a network error, a killed process) may retry.
"""


class DeterministicError(Exception):
    """Retrying cannot help: the message says what to change in the spec or the data."""


class DataError(DeterministicError, ValueError):
    """The data cannot be used as the spec describes it (a missing or mistyped column,
    unlabelled rows); the message names the file or split, the column and what was
    expected."""
