"""The one verdict type on literal checks: its states, its sentence, its documents (and
those written before it), and the one template every gate's verdict renders through."""

from __future__ import annotations

import html
import re

import pytest

from mlrail.data.validation import Anomaly, validation_verdict
from mlrail.evaluation.blessing import decide_blessing
from mlrail.reports import environment
from mlrail.reports.verdicts import view
from mlrail.verdict import FAILED, INCONCLUSIVE, PASSED, Check, Verdict, summary_of

WORDS = ("Shipped", "Held")


def _verdict(*checks: Check, **fields) -> Verdict:
    return Verdict("toy", checks, WORDS, **fields)


def test_a_verdict_fails_only_on_a_check_that_blocks():
    within = Check("threshold", PASSED, "auc 0.81 >= 0.7", "auc", "test", 0.81, 0.7)
    warning = Check("unseen_values", FAILED, "3 % unseen", "city", "eval", blocks=False)
    unsure = Check("latency_ratio", INCONCLUSIVE, "1.1x (0.9-1.3x)", blocks=False)
    refused = Check("latency_ratio", INCONCLUSIVE, "1.1x (0.9-1.3x)", blocks=True)
    below = Check("threshold", FAILED, "auc 0.61 is not >= 0.7", "auc", "test", 0.61, 0.7)

    assert (_verdict(within).state, _verdict(within).sentence) == (
        PASSED, "Shipped: auc 0.81 >= 0.7.",
    )
    assert _verdict(within, warning).state == PASSED
    assert _verdict(within, warning).sentence == "Shipped, with warnings: 3 % unseen."
    through = _verdict(within, unsure)
    assert through.state == INCONCLUSIVE and through.lets_through
    assert through.sentence.startswith("Shipped, not all checks conclusive: auc 0.81")
    held = _verdict(within, refused, below, warning, note="Compared with v3.", policy="P.")
    assert held.state == FAILED and not held.lets_through
    # Only what stopped it, then what else the reader must know.
    assert held.sentence == "Held: 1.1x (0.9-1.3x); auc 0.61 is not >= 0.7. Compared with v3. P."
    assert below.blocks and not warning.blocks  # a failed check blocks unless told not to
    assert _verdict().sentence == "Shipped."


def test_a_check_refuses_a_state_it_does_not_know():
    with pytest.raises(ValueError, match="check threshold: state 'ok' is not one of"):
        Check("threshold", "ok", "auc fine")


def test_a_verdict_document_reads_back_whole():
    checks = (
        Check("baseline", FAILED, "auc fell", "auc", "test", 0.7, 0.79),
        Check("latency_ratio", INCONCLUSIVE, "1.1x", details={"levels": {"1": {"pairs": 64}}}),
    )
    verdict = _verdict(*checks, compared_with="blessed v3", note="n", policy="p")
    document = verdict.to_dict()
    assert Verdict.from_dict(document) == verdict
    assert summary_of(document) == {
        "state": FAILED, "lets_through": False, "sentence": verdict.sentence,
    }
    assert summary_of(verdict.summary()) == summary_of(document)


def test_blessings_written_before_the_shared_type_still_read():
    """blessing.json of the previous version: ``blessed``, checks with ``check``,
    ``limit`` and ``passed`` (and, from the sandbox, ``state`` and ``levels``)."""
    model = {
        "blessed": False,
        "sentence": "Not blessed: auc 0.6500 is not >= 0.7.",
        "baseline_version": 2,
        "checks": [{"check": "threshold", "metric": "auc", "value": 0.65, "bound": 0.7,
                    "passed": False, "sentence": "auc 0.6500 is not >= 0.7"}],
    }
    infra = {
        "blessed": True,
        "sentence": "Infra-blessed, not all checks conclusive: ...",
        "checks": [{"check": "latency_ratio", "value": 1.1, "limit": 1.2, "passed": True,
                    "sentence": "p50 1.1x", "state": "inconclusive", "levels": {"1": {}}}],
    }
    old = Verdict.from_dict(model, "model_blessing")
    assert (old.gate, old.state, old.compared_with) == ("model_blessing", FAILED, "blessed v2")
    assert (old.checks[0].name, old.checks[0].bound, old.checks[0].blocks) == (
        "threshold", 0.7, True,
    )
    assert summary_of(model) == {"state": FAILED, "lets_through": False,
                                 "sentence": model["sentence"]}
    ratio = Verdict.from_dict(infra, "infra_blessing").checks[0]
    assert (ratio.state, ratio.blocks, ratio.bound) == (INCONCLUSIVE, False, 1.2)
    assert ratio.details == {"levels": {"1": {}}}
    assert summary_of(infra)["state"] == INCONCLUSIVE
    assert view(infra, "infra_blessing")["sentence"] == infra["sentence"]  # as it was decided
    assert view(infra, "infra_blessing")["badge"] == INCONCLUSIVE


def _rendered(document: dict, gate: str = "") -> dict:
    """The verdict's notice and checks table through the one template, as text."""
    template = environment().from_string(
        '{% from "macros.html" import verdict_notice, verdict_checks %}'
        "{{ verdict_notice(v) }}{{ verdict_checks(v) }}"
    )
    markup = template.render(v=view(document, gate))

    def text(fragment: str) -> str:
        return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())

    rows = [
        [text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", markup, flags=re.S)
    ]
    notice = re.search(r'<p class="notice.*?</p>', markup).group(0)
    return {"notice": text(notice), "rows": [r for r in rows if r]}


def test_every_gate_renders_through_the_one_template_with_its_slices():
    blessing = decide_blessing({"auc": 0.65}, {"auc": {"min": 0.7}}, None, None, {})
    anomalies = [
        Anomaly("missing_column", "blocking", "eval", "fare", "column 'fare' is missing"),
        Anomaly("unseen_values", "warning", "test", "city", "2 % unseen cities"),
    ]
    from mlrail.serving.sandbox.verdict import decide_infra_blessing

    infra = decide_infra_blessing(
        {
            "errors": 0, "requests": 10, "p99_by_level": {8: 12.0}, "peak_rss_bytes": 1,
            "killed": False, "parity": {"rows": 5, "max_diff": 0.0, "worst_row": 0},
            "malformed": [], "healthy_after": True,
        },
        {"p99_budget_ms": 10.0, "memory_limit_mb": 100, "parity_tolerance": 1e-5},
        None,
    )
    shown = {
        "model": _rendered(blessing.to_dict()),
        "validation": _rendered(validation_verdict(anomalies).to_dict()),
        "infra": _rendered(infra.to_dict()),
    }
    assert shown["model"]["notice"].startswith("not blessed Not blessed: auc 0.6500")
    assert shown["model"]["rows"] == [
        ["threshold", "test", "auc", "0.65", "0.7", "fail", "auc 0.6500 is not >= 0.7"]
    ]
    assert shown["validation"]["notice"].startswith("not valid Not valid: column 'fare'")
    assert [r[:3] + r[5:6] for r in shown["validation"]["rows"]] == [
        ["missing_column", "eval", "fare", "fail"],
        ["unseen_values", "test", "city", "warning"],
    ]
    budget = next(r for r in shown["infra"]["rows"] if r[0] == "p99_budget")
    assert budget[1:6] == ["concurrency 8", "p99_budget", "12", "10", "fail"]
    assert shown["infra"]["notice"].startswith("not infra-blessed Not infra-blessed: p99")
