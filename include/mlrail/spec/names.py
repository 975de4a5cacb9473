"""Which column names can be features and labels.

A feature's name becomes a Keras input and layer name, a key of the SavedModel's
``serving_default`` signature, a request field and a label in HTML reports. Measured with
the built-in model (TF 2.21, Keras 3): a name with a space, ``:``, ``,``, ``(``, a
non-ASCII letter or ``/`` fails when the model is built ("not a valid scope name");
``-``, ``.``, ``>`` and a leading digit or ``.`` train, but the signature renames the
input (``trip-miles`` -> ``trip_miles``, ``1st`` -> ``arg_1st``), so evaluation and
serving cannot find it; a leading ``_`` or ``-`` fails at export. What works end to end
is one rule, used for the spec, the schema file and the data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_MODEL_INPUT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
RULE = "a letter, then letters, digits or _, e.g. trip_miles"
ALLOWED = f"a name a model can take as an input ({RULE})"


def is_model_input_name(name: object) -> bool:
    return isinstance(name, str) and _MODEL_INPUT_NAME.fullmatch(name) is not None


def unusable_names(names: Iterable[object]) -> list[object]:
    """The names in ``names`` that cannot be model input names, in order."""
    return [name for name in names if not is_model_input_name(name)]
