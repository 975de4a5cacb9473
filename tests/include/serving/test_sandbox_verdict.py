"""The sandbox's verdict on literal measurements: each check of the ``sandbox:`` policy, its
reason, and the sentence a reader of the InfraBlessing gets; and the policy's own errors."""

from __future__ import annotations

import pytest

from mlrail.serving.sandbox.verdict import MB, InfraBlessing, decide_infra_blessing
from mlrail.spec import SandboxSpec, SpecError, load_spec
from tests.include.spec.test_spec import GOOD, _spec

POLICY = vars(SandboxSpec())  # ratio 1.2x, budget 250 ms, ceiling 4096 MB, tolerance 1e-5
PROBES = ["missing field", "wrong type", "empty body", "oversize body", "bad JSON"]


def measured(**changes) -> dict:
    """What a sandbox measures of a good candidate next to blessed v3, with ``changes``."""
    values = {
        "errors": 0,
        "requests": 321,
        "first_error": None,
        "p99_by_level": {1: 8.0, 8: 30.0},
        "peak_rss_bytes": 600 * MB,
        "killed": False,
        # per level, the candidate's p99 over the blessed model's, round by round
        "ratios": {1: [1.02, 0.97, 1.01, 0.99], 8: [1.0, 1.04, 0.98, 1.02]},
        "parity": {"rows": 200, "max_diff": 0.0, "worst_row": 0, "per_row": [0.0] * 200},
        "malformed": [{"probe": p, "status": 400, "ok": True} for p in PROBES],
        "healthy_after": True,
    }
    return {**values, **changes}


def decide(baseline_version: int | None = 3, policy: dict | None = None, **changes):
    return decide_infra_blessing(measured(**changes), policy or POLICY, baseline_version)


def check(verdict: InfraBlessing, name: str):
    (found,) = [c for c in verdict.checks if c.check == name]
    return found


def failed(verdict: InfraBlessing) -> list[str]:
    return [c.check for c in verdict.checks if not c.passed]


# --- p99 ratio ---------------------------------------------------------------------------


def test_identical_models_ratios_near_one_pass():
    verdict = decide()
    assert verdict.blessed and failed(verdict) == []
    assert [c.check for c in verdict.checks] == [
        "errors",
        "p99_ratio",
        "p99_budget",
        "memory",
        "parity",
        "malformed",
    ]
    ratio = check(verdict, "p99_ratio")
    assert ratio.value == pytest.approx(1.01)  # level 8's median; level 1's is 1.0
    assert ratio.limit == 1.2
    assert ratio.sentence == (
        "p99 latency 1.01x blessed v3's at concurrency 8 (median of 4 rounds; at most 1.2x)"
    )
    assert verdict.baseline_version == 3 and verdict.note == ""


def test_a_median_ratio_above_the_limit_fails_naming_the_level():
    ratios = {1: [1.05, 1.1, 1.0, 1.08], 8: [1.5, 1.4, 1.6, 1.3]}
    verdict = decide(ratios=ratios)
    assert not verdict.blessed and failed(verdict) == ["p99_ratio"]
    ratio = check(verdict, "p99_ratio")
    assert ratio.value == pytest.approx(1.45)
    assert verdict.sentence == (
        "Not infra-blessed: p99 latency 1.45x blessed v3's at concurrency 8 "
        "(median of 4 rounds; at most 1.2x)."
    )


def test_the_limit_itself_passes_and_the_policy_sets_it():
    ratios = {1: [1.2, 1.2, 1.2], 8: [1.1, 1.0, 1.2]}
    assert check(decide(ratios=ratios), "p99_ratio").passed
    looser = {**POLICY, "max_p99_ratio": 1.5}
    late = {1: [1.4, 1.45, 1.3]}
    assert not check(decide(ratios=late), "p99_ratio").passed
    verdict = decide(ratios=late, policy=looser)
    assert verdict.blessed
    assert check(verdict, "p99_ratio").sentence.endswith("(median of 3 rounds; at most 1.5x)")


def test_a_single_noisy_round_does_not_fail_when_the_median_is_fine():
    noisy = {1: [1.0, 0.98, 6.5, 1.02], 8: [1.01, 0.99, 1.0, 9.0]}  # means 2.4 and 3.0
    verdict = decide(ratios=noisy)
    assert verdict.blessed, verdict.sentence
    assert check(verdict, "p99_ratio").value == pytest.approx(1.01)


def test_rounds_the_candidate_answered_for_only_some_levels_are_judged_on_those():
    verdict = decide(ratios={1: [1.0, 1.1, 0.9], 8: []})
    ratio = check(verdict, "p99_ratio")
    assert ratio.passed and ratio.value == pytest.approx(1.0)
    assert "at concurrency 1 (median of 3 rounds" in ratio.sentence


def test_a_candidate_that_answered_no_round_is_refused_not_crashed():
    # Killed by the memory watch during its warm-up: every round failed, no ratio exists.
    verdict = decide(
        ratios={1: [], 8: []},
        errors=320,
        first_error="ConnectionRefusedError: [Errno 111] Connection refused",
        p99_by_level={1: float("inf"), 8: float("inf")},
        peak_rss_bytes=5000 * MB,
        killed=True,
    )
    assert not verdict.blessed
    assert not check(verdict, "memory").passed
    ratio = check(verdict, "p99_ratio")
    assert not ratio.passed and ratio.value is None
    assert "no round was answered by both" in ratio.sentence


# --- absolute checks -----------------------------------------------------------------------


def test_the_p99_budget_is_judged_at_the_worst_level():
    verdict = decide(p99_by_level={1: 12.0, 8: 300.0})
    assert failed(verdict) == ["p99_budget"]
    budget = check(verdict, "p99_budget")
    assert (budget.value, budget.limit) == (pytest.approx(300.0), 250.0)
    assert budget.sentence == "p99 latency 300.0 ms at concurrency 8 (budget 250 ms)"
    assert check(decide(p99_by_level={1: 12.0, 8: 250.0}), "p99_budget").passed


def test_memory_above_the_ceiling_fails():
    verdict = decide(peak_rss_bytes=5000 * MB)
    assert failed(verdict) == ["memory"]
    memory = check(verdict, "memory")
    assert (memory.value, memory.limit) == (pytest.approx(5000.0), 4096)
    assert memory.sentence == "peak memory 5000 MB (ceiling 4096 MB)"
    assert check(decide(peak_rss_bytes=4096 * MB), "memory").passed


def test_a_candidate_killed_for_its_memory_fails_even_if_its_last_sample_was_lower():
    verdict = decide(peak_rss_bytes=3000 * MB, killed=True)
    assert failed(verdict) == ["memory"]
    assert check(verdict, "memory").sentence == (
        "peak memory 3000 MB (ceiling 4096 MB), stopped by the sandbox for going above it"
    )


def test_parity_within_the_tolerance_passes_and_beyond_it_names_the_row():
    close = {"rows": 200, "max_diff": 3e-6, "worst_row": 4, "per_row": []}
    verdict = decide(parity=close)
    assert check(verdict, "parity").sentence == (
        "served answers equal in-process predictions on 200 rows "
        "(largest difference 3e-06, tolerance 1e-05)"
    )
    skewed = {"rows": 200, "max_diff": 0.25, "worst_row": 17, "per_row": []}
    verdict = decide(parity=skewed)
    assert failed(verdict) == ["parity"]
    parity = check(verdict, "parity")
    assert (parity.value, parity.limit) == (pytest.approx(0.25), 1e-5)
    assert parity.sentence == (
        "served answers differ from in-process predictions on 200 rows "
        "(largest difference 0.25, tolerance 1e-05, worst at row 17)"
    )


def test_parity_differences_are_absolute_below_one_and_relative_above():
    import numpy as np

    from mlrail.serving.sandbox.probes import differences

    # A price of 312,345.6 rounded to float32 moves by 0.0125: not a skew.
    price = np.float32(312_345.6)
    served = np.array([[0.5, 0.25], [float(price) + 0.0125, 0.0]])
    expected = np.array([[0.5, 0.25 + 2e-6], [float(price), 0.0]])
    assert differences(served, expected) == pytest.approx([2e-6, 0.0125 / float(price)])
    assert differences(served, expected).max() < 1e-5
    # A skewed price is caught by its relative size, a skewed probability absolutely.
    skewed = differences(np.array([[330_000.0], [0.9]]), np.array([[300_000.0], [0.6]]))
    assert skewed == pytest.approx([0.1, 0.3])
    assert differences(np.zeros((0, 1)), np.zeros((0, 1))).size == 0


def test_parity_that_could_not_be_checked_fails_with_its_error():
    broken = {"rows": 200, "max_diff": None, "error": "HTTP 500: b'model call failed'"}
    verdict = decide(parity=broken)
    assert failed(verdict) == ["parity"]
    parity = check(verdict, "parity")
    assert parity.value is None
    assert parity.sentence == "parity could not be checked: HTTP 500: b'model call failed'"


def test_malformed_requests_must_each_get_a_4xx_and_leave_the_server_healthy():
    probes = [
        {"probe": "missing field", "status": 400, "ok": True},
        {"probe": "wrong type", "status": 500, "ok": False},
        {"probe": "oversize body", "status": "no answer (ConnectionResetError)", "ok": False},
    ]
    verdict = decide(malformed=probes, healthy_after=False)
    assert failed(verdict) == ["malformed"]
    malformed = check(verdict, "malformed")
    assert malformed.value == 2
    assert malformed.sentence == (
        "malformed requests: wrong type got 500, oversize body got no answer "
        "(ConnectionResetError), the server was not healthy afterwards (expected a 4xx each)"
    )
    ok = check(decide(), "malformed")
    assert ok.passed and ok.sentence == (
        "5 malformed requests each got a 4xx, and the server stayed healthy"
    )
    assert not check(decide(healthy_after=False), "malformed").passed


def test_failed_valid_requests_fail_naming_the_first():
    verdict = decide(errors=3, first_error="HTTP 500: b'boom'")
    assert failed(verdict) == ["errors"]
    errors = check(verdict, "errors")
    assert (errors.value, errors.limit) == (3, 0)
    assert errors.sentence == "3 of 321 valid requests failed (first: HTTP 500: b'boom')"
    assert check(decide(), "errors").sentence == "all 321 valid requests answered"


# --- what the candidate is compared with, and the sentence -------------------------------


def test_a_first_model_is_judged_on_absolute_budgets_only():
    verdict = decide(baseline_version=None, ratios=None)
    assert verdict.blessed
    assert "p99_ratio" not in [c.check for c in verdict.checks]
    assert verdict.baseline_version is None
    assert verdict.note == "No blessed model to compare with: judged on absolute budgets only."
    assert verdict.sentence.endswith(". " + verdict.note)
    slow = decide(baseline_version=None, ratios=None, p99_by_level={1: 400.0})
    assert slow.sentence == (
        "Not infra-blessed: p99 latency 400.0 ms at concurrency 1 (budget 250 ms). "
        "No blessed model to compare with: judged on absolute budgets only."
    )


def test_the_blessed_model_itself_is_judged_on_absolute_budgets():
    verdict = decide(baseline_version=3, ratios=None, same_as_blessed=True)
    assert verdict.blessed
    assert "p99_ratio" not in [c.check for c in verdict.checks]
    assert verdict.note == "The candidate is blessed v3 itself: judged on absolute budgets."


def test_the_sentence_lists_every_reason_when_blessed_and_the_failed_ones_when_not():
    good = decide()
    assert good.sentence.startswith("Infra-blessed: all 321 valid requests answered; p99 ")
    assert good.sentence == "Infra-blessed: " + "; ".join(c.sentence for c in good.checks) + "."
    bad = decide(errors=1, first_error="HTTP 503", peak_rss_bytes=5000 * MB)
    assert bad.sentence == (
        "Not infra-blessed: 1 of 321 valid requests failed (first: HTTP 503); "
        "peak memory 5000 MB (ceiling 4096 MB)."
    )
    record = bad.to_dict()
    assert record["blessed"] is False and record["sentence"] == bad.sentence
    assert record["baseline_version"] == 3
    assert [c["check"] for c in record["checks"]] == [c.check for c in bad.checks]
    assert record["checks"][0] == {
        "check": "errors",
        "value": 1,
        "limit": 0,
        "passed": False,
        "sentence": "1 of 321 valid requests failed (first: HTTP 503)",
    }


# --- the policy's own errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    "values, field, expected",
    [
        ({"max_p99_ratio": 0.5}, "max_p99_ratio", "a ratio of at least 1.0, got 0.5"),
        ({"concurrency": []}, "concurrency", "a non-empty list of positive integers, got []"),
        ({"concurrency": [1, 0]}, "concurrency[1]", "a positive integer, got 0"),
        ({"cpus": [-1]}, "cpus[0]", "a CPU number (0, 1, ...), got -1"),
        ({"rounds": 0}, "rounds", "a positive integer, got 0"),
        ({"memory_limit_mb": -1}, "memory_limit_mb", "a positive integer, got -1"),
        ({"warmup_requests": -1}, "warmup_requests", "zero or a positive integer, got -1"),
        ({"p99_budget_ms": 0}, "p99_budget_ms", "a positive number, got 0"),
        ({"parity_tolerance": -1e-6}, "parity_tolerance", "zero or a positive number"),
    ],
)
def test_bad_policy_values_name_the_field(values, field, expected):
    with pytest.raises(SpecError) as refused:
        SandboxSpec(**values)
    assert refused.value.field_path == field
    assert str(refused.value).startswith(f"field '{field}': expected {expected}")


def test_a_bad_sandbox_section_names_file_line_and_field(tmp_path):
    path = _spec(tmp_path, GOOD + "sandbox: {max_p99_ratio: 0.5}\n")
    with pytest.raises(SpecError) as refused:
        load_spec(path)
    assert str(refused.value) == (
        f"{path}:5: field 'sandbox.max_p99_ratio': expected a ratio of at least 1.0, got 0.5"
    )
