"""Verdicts as every page and report shows them (the ``verdict_notice`` and
``verdict_checks`` macros): one shape, whatever the gate, for documents written before the
shared type (mlrail.verdict) too."""

from __future__ import annotations

from typing import Any

from mlrail.verdict import Verdict


def view(document: dict[str, Any], gate: str = "") -> dict[str, Any]:
    """A stored verdict document as the templates read it: the verdict's fields, the
    sentence it was given when decided, and ``badge``, the word for its outcome."""
    verdict = Verdict.from_dict(document, gate)
    shown = verdict.to_dict()
    shown["sentence"] = document.get("sentence") or shown["sentence"]
    if "words" in document:
        shown["badge"] = verdict.words[0 if verdict.lets_through else 1].lower()
    else:  # written before verdicts named their outcome: its state says it
        shown["badge"] = verdict.state
    return shown
