"""One verdict type for every gate: data validation, the model blessing, the infra
blessing, and the drift, evaluation and rollout verdicts that read the same way.

A :class:`Check` is one question a gate asks (a threshold, a comparison with the blessed
model, a latency ratio, an anomaly in a column): what it measured (``metric``, on which
``slice``), the ``value``, the ``bound`` it was held to, a ``state`` and a sentence. Three
states, because a statistic on a few hundred rows may not tell: *passed* (the evidence
says the check holds), *failed* (it says the check does not), *inconclusive* (it cannot
tell either way). Whether a check stops the gate is apart from its state: a warning
anomaly failed and does not block; an inconclusive comparison blocks only when the
policy says so.

A :class:`Verdict` is a gate's checks, what they compared against, the policy applied,
and one sentence that leads with the outcome. Its state is *failed* when a check blocks,
else *inconclusive* when a check is, else *passed*; ``lets_through`` says whether the
gate lets the run go on. Pure: no I/O, nothing from the rest of mlrail, so every
concern (data, evaluation, serving, monitoring, deployment) uses it without a cycle.

Verdict documents written before this type (``blessed`` and check keys ``check``,
``limit``, ``passed``) are read by :meth:`Verdict.from_dict`, so pages and pushes keep
working on a store written by an earlier version.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PASSED, FAILED, INCONCLUSIVE = "passed", "failed", "inconclusive"
STATES = (PASSED, FAILED, INCONCLUSIVE)


@dataclass(frozen=True)
class Check:
    name: str  # the kind of question: threshold, baseline, latency_ratio, missing_column, ...
    state: str
    sentence: str
    metric: str | None = None  # the metric, column or measurement judged
    slice: str | None = None  # where: a split, a feature slice, a concurrency; None: all
    value: float | None = None
    bound: float | None = None  # the limit or bound the value was held to
    blocks: bool | None = None  # stops the gate; None: when failed
    details: dict[str, Any] = field(default_factory=dict)  # per level, examples, ...

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"check {self.name}: state {self.state!r} is not one of {STATES}")
        if self.blocks is None:
            object.__setattr__(self, "blocks", self.state == FAILED)

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Check:
        """A check as written by to_dict, or by the blessings before this type."""
        known = {k: v for k, v in document.items() if k in cls.__dataclass_fields__}
        if "name" not in known:  # the blessings' own check types
            passed = document.get("passed", True)
            known["name"] = document.get("check", "check")
            known["bound"] = document.get("bound", document.get("limit"))
            known["state"] = document.get("state") or (PASSED if passed else FAILED)
            known["blocks"] = not passed
            if document.get("levels"):
                known["details"] = {"levels": document["levels"]}
        return cls(**known)


@dataclass(frozen=True)
class Verdict:
    gate: str  # model_blessing | infra_blessing | validation | ...
    checks: tuple[Check, ...]
    words: tuple[str, str] = ("Passed", "Failed")  # how the sentence opens: let through / not
    compared_with: str = ""  # e.g. "blessed v3"; "" when nothing was compared
    note: str = ""  # what else the reader must know (no baseline, the same model)
    policy: str = ""  # the policy the gate applied, one sentence

    def __post_init__(self) -> None:
        object.__setattr__(self, "checks", tuple(self.checks))

    @property
    def lets_through(self) -> bool:
        return not any(c.blocks for c in self.checks)

    @property
    def state(self) -> str:
        if not self.lets_through:
            return FAILED
        return INCONCLUSIVE if any(c.state == INCONCLUSIVE for c in self.checks) else PASSED

    @property
    def sentence(self) -> str:
        through, stopped = self.words
        checks = self.checks
        if not self.lets_through:
            head, checks = stopped, tuple(c for c in checks if c.blocks)
        elif self.state == INCONCLUSIVE:
            head = f"{through}, not all checks conclusive"
        elif any(c.state == FAILED for c in checks):  # failed, and not blocking: warnings
            head = f"{through}, with warnings"
            checks = tuple(c for c in checks if c.state == FAILED)
        else:
            head = through
        said = "; ".join(c.sentence for c in checks)
        lead = f"{head}: {said}." if said else f"{head}."
        return " ".join(part for part in (lead, self.note, self.policy) if part)

    def summary(self) -> dict[str, Any]:
        """What a stage's result and XCom carry: the outcome and its sentence."""
        return {
            "gate": self.gate,
            "state": self.state,
            "lets_through": self.lets_through,
            "sentence": self.sentence,
        }

    def to_dict(self) -> dict[str, Any]:
        """The whole verdict, as a verdict artifact stores it."""
        return {
            **self.summary(),
            "words": list(self.words),
            "compared_with": self.compared_with,
            "note": self.note,
            "policy": self.policy,
            "checks": [asdict(c) for c in self.checks],
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any], gate: str = "") -> Verdict:
        """A verdict as written by to_dict, or a blessing document written before this
        type (``gate`` names it then)."""
        checks = tuple(Check.from_dict(c) for c in document.get("checks", []))
        baseline = document.get("baseline_version")
        compared = document.get("compared_with")
        if compared is None:
            compared = "" if baseline is None else f"blessed v{baseline}"
        return cls(
            gate=document.get("gate") or gate,
            checks=checks,
            words=tuple(document.get("words") or ("Passed", "Failed")),
            compared_with=compared,
            note=document.get("note", ""),
            policy=document.get("policy", ""),
        )


def summary_of(document: dict[str, Any] | None) -> dict[str, Any] | None:
    """The outcome of a verdict document or summary, new or written before this type
    (``blessed`` and ``sentence``): ``{"state", "lets_through", "sentence"}``; None for
    None."""
    if document is None:
        return None
    if "lets_through" in document:
        return {k: document[k] for k in ("state", "lets_through", "sentence")}
    through = bool(document.get("blessed"))
    state = PASSED if through else FAILED
    if through and any(c.get("state") == INCONCLUSIVE for c in document.get("checks", [])):
        state = INCONCLUSIVE
    return {"state": state, "lets_through": through, "sentence": document.get("sentence", "")}
