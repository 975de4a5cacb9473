"""The sandbox's verdict on literal measurements: each check of the ``sandbox:`` policy, its
reason, and the sentence a reader of the InfraBlessing gets; and the policy's own errors."""

from __future__ import annotations

import math

import pytest

from mlrail.serving.sandbox.intervals import median_bounds, sign_rank
from mlrail.serving.sandbox.replay import Sample
from mlrail.serving.sandbox.servers import BLESSED, CANDIDATE
from mlrail.serving.sandbox.validate import _ratios, _throughput_ratios
from mlrail.serving.sandbox.verdict import (
    MB,
    bound_alpha,
    decide_infra_blessing,
    looks,
    undecided_levels,
)
from mlrail.spec import SandboxSpec, SpecError, load_spec
from mlrail.verdict import Verdict
from tests.include.spec.test_spec import GOOD, _spec

POLICY = vars(SandboxSpec())  # ratio 1.2x at p50, budget 250 ms, ceiling 4096 MB, tolerance 1e-5
QUANTILE = POLICY["latency_quantile"]
PROBES = ["missing field", "wrong type", "empty body", "oversize body", "bad JSON"]
# Eight turn pairs of two copies of one model: the machine's noise, paired turn by turn.
TWINS = [1.02, 0.97, 1.01, 0.99, 1.03, 0.98, 1.0, 1.01]


def measured(**changes) -> dict:
    """What a sandbox measures of a good candidate next to blessed v3, with ``changes``."""
    values = {
        "errors": 0,
        "requests": 321,
        "first_error": None,
        "p99_by_level": {1: 8.0, 8: 30.0},
        "peak_rss_bytes": 600 * MB,
        "killed": False,
        # per level, the candidate's p50 over the blessed model's, turn pair by turn pair
        "ratios": {1: TWINS, 8: TWINS[::-1]},
        # and its requests per second over the blessed model's
        "throughput_ratios": {1: TWINS[::-1], 8: TWINS},
        "parity": {"rows": 200, "max_diff": 0.0, "worst_row": 0, "per_row": [0.0] * 200},
        "malformed": [{"probe": p, "status": 400, "ok": True} for p in PROBES],
        "healthy_after": True,
    }
    return {**values, **changes}


def decide(baseline_version: int | None = 3, policy: dict | None = None, **changes):
    return decide_infra_blessing(measured(**changes), policy or POLICY, baseline_version)


def check(verdict: Verdict, name: str):
    (found,) = [c for c in verdict.checks if c.name == name]
    return found


def failed(verdict: Verdict) -> list[str]:
    return [c.name for c in verdict.checks if c.blocks]


def states(verdict: Verdict) -> dict[str, str]:
    return {c.name: c.state for c in verdict.checks}


# --- the statistic -------------------------------------------------------------------------


def test_sign_test_ranks_and_bounds_on_literal_data():
    # P(Binomial(8, 1/2) = 0) = 1/256: at 1 - 1/256 the bounds are the extremes of 8.
    assert sign_rank(8, 1 / 256) == 1 and sign_rank(8, 1 / 257) == 0
    # P(X <= 1) for 10 is 11/1024: the 2nd smallest bounds the median at 1 - 11/1024.
    assert sign_rank(10, 11 / 1024) == 2 and sign_rank(10, 11 / 1024 - 1e-9) == 1
    bounds = median_bounds([1.3, 0.9, 1.1, 1.0, 1.2, 0.8, 1.4, 1.05, 0.95, 1.15], 11 / 1024)
    assert (bounds.pairs, bounds.low, bounds.high) == (10, 0.9, 1.3)
    assert bounds.median == pytest.approx((1.05 * 1.1) ** 0.5)  # geometric mid of 1.05, 1.1
    few = median_bounds([1.0, 2.0, 3.0], 0.05)
    assert (few.low, few.high, few.bounded) == (0.0, math.inf, False)
    assert median_bounds([], 0.05).median is None


def test_the_bounds_are_shared_among_levels_checks_and_looks():
    # Default policy: 2 levels x 2 checks x 3 looks (8 rounds at a time, at most 24).
    assert looks(POLICY) == 3
    assert bound_alpha(POLICY) == pytest.approx(0.05 / 12)
    four_levels = {**POLICY, "concurrency": [1, 4, 8, 16]}
    assert bound_alpha(four_levels) == pytest.approx(0.05 / 24)


# --- latency ratio -----------------------------------------------------------------------


def test_identical_models_pass_with_the_interval_in_the_sentence():
    verdict = decide()
    assert verdict.lets_through and failed(verdict) == []
    assert set(states(verdict).values()) == {"passed"}
    assert [c.name for c in verdict.checks] == [
        "errors",
        "latency_ratio",
        "throughput_ratio",
        "p99_budget",
        "memory",
        "parity",
        "malformed",
    ]
    ratio = check(verdict, "latency_ratio")
    assert ratio.value == pytest.approx((1.0 * 1.01) ** 0.5, abs=1e-4)
    assert ratio.bound == 1.2
    assert ratio.sentence == (
        "p50 latency 1.00x blessed v3's at concurrency 1 "
        "(95% interval 0.97-1.03x over 8 turn pairs; at most 1.2x)"
    )
    assert ratio.details["levels"][8] == {
        "ratio": pytest.approx(1.005, abs=1e-3),
        "low": 0.97,
        "high": 1.03,
        "pairs": 8,
        "state": "passed",
    }
    assert verdict.compared_with == "blessed v3" and verdict.note == ""
    assert verdict.policy == (
        "Compared at 95% confidence, corrected for 2 levels x 2 checks x 3 looks of 8 rounds "
        "(at most 24); an inconclusive comparison is pushed."
    )
    assert verdict.sentence.endswith(". " + verdict.policy)


def test_a_clearly_slower_candidate_fails_naming_the_level():
    slower = [1.45, 1.5, 1.38, 1.62, 1.41, 1.55, 1.47, 1.52]
    verdict = decide(ratios={1: TWINS, 8: slower})
    assert not verdict.lets_through and failed(verdict) == ["latency_ratio"]
    ratio = check(verdict, "latency_ratio")
    assert ratio.state == "failed"
    assert ratio.value == pytest.approx((1.47 * 1.5) ** 0.5, abs=1e-4)
    assert verdict.sentence.startswith(
        "Not infra-blessed: p50 latency 1.48x blessed v3's at concurrency 8 "
        "(95% interval 1.38-1.62x over 8 turn pairs; at most 1.2x). Compared at 95%"
    )


def test_one_wild_pair_neither_fails_an_identical_model_nor_passes_a_slow_one():
    # One pair of a busy machine at 6.5 (the p99 medians of old flipped on fewer).
    noisy = {1: [*TWINS[:7], 6.5], 8: TWINS}
    verdict = decide(ratios=noisy)
    assert check(verdict, "latency_ratio").state != "failed"
    slow = [1.5] * 7 + [0.6]
    assert check(decide(ratios={1: slow, 8: TWINS}), "latency_ratio").state != "passed"


def test_too_few_pairs_are_inconclusive_and_pushed_by_default_saying_so():
    verdict = decide(ratios={1: [1.0, 1.1, 0.9], 8: [1.02, 0.98, 1.0]})
    ratio = check(verdict, "latency_ratio")
    assert ratio.state == "inconclusive" and not ratio.blocks
    assert verdict.lets_through
    assert ratio.sentence == (
        "p50 latency 1.00x blessed v3's at concurrency 1 (too few turn pairs for a 95% "
        "interval: 3; at most 1.2x): inconclusive, pushed as on_inconclusive: push says"
    )
    assert verdict.sentence.startswith("Infra-blessed, not all checks conclusive: ")


def test_noisy_pairs_straddling_the_limit_are_inconclusive_and_refused_if_the_policy_says():
    straddling = [1.1, 1.3, 1.15, 1.25, 1.05, 1.35, 1.2, 1.28]
    refuse = {**POLICY, "on_inconclusive": "refuse"}
    verdict = decide(ratios={1: straddling, 8: TWINS}, policy=refuse)
    ratio = check(verdict, "latency_ratio")
    assert ratio.state == "inconclusive" and ratio.blocks
    assert not verdict.lets_through and failed(verdict) == ["latency_ratio"]
    assert ratio.sentence.endswith(
        "(95% interval 1.05-1.35x over 8 turn pairs; at most 1.2x): inconclusive, refused as "
        "on_inconclusive: refuse says"
    )
    assert verdict.policy.endswith("an inconclusive comparison is refused.")


def test_more_levels_tested_at_once_need_more_evidence():
    # All 8 pairs above the limit: enough at 2 levels (bounds at 1 - 0.05/12 > 1 - 1/256),
    # not at 4 (1 - 0.05/24 < 1 - 1/256: eight pairs bound nothing).
    slower = [1.3, 1.32, 1.28, 1.35, 1.31, 1.29, 1.33, 1.3]
    two = decide(ratios={1: slower, 8: TWINS})
    assert check(two, "latency_ratio").state == "failed"
    levels = {1: slower, 8: TWINS, 16: TWINS, 32: TWINS}
    throughput = {level: TWINS for level in levels}
    four = decide(
        ratios=levels,
        throughput_ratios=throughput,
        policy={**POLICY, "concurrency": [1, 8, 16, 32]},
    )
    assert check(four, "latency_ratio").state == "inconclusive"
    # ... and so do more looks at the same pairs.
    more_looks = decide(ratios={1: slower, 8: TWINS}, policy={**POLICY, "max_rounds": 64})
    assert check(more_looks, "latency_ratio").state == "inconclusive"


def test_undecided_levels_are_the_ones_measured_again():
    straddling = [1.1, 1.3, 1.15, 1.25, 1.05, 1.35, 1.2, 1.28]
    slower = [0.7] * 8  # throughput well below 0.8x: decided (failed)
    got = undecided_levels({1: straddling, 8: TWINS}, {1: TWINS, 8: slower}, POLICY)
    assert got == [1]
    assert undecided_levels({1: TWINS, 8: TWINS}, {1: TWINS, 8: TWINS}, POLICY) == []


def test_the_limit_is_the_policy_s():
    late = {1: [1.4, 1.45, 1.3, 1.42, 1.38, 1.41, 1.36, 1.44], 8: TWINS}
    assert check(decide(ratios=late), "latency_ratio").state == "failed"
    looser = {**POLICY, "max_latency_ratio": 1.5, "latency_quantile": 95.0}
    verdict = decide(ratios=late, policy=looser)
    assert verdict.lets_through
    ratio = check(verdict, "latency_ratio")
    assert ratio.state == "passed"
    assert ratio.sentence.startswith("p95 latency 1.40x blessed v3's at concurrency 1 ")
    assert ratio.sentence.endswith("(95% interval 1.30-1.45x over 8 turn pairs; at most 1.5x)")


# --- pairs of turns, from what a round measured ----------------------------------------------

# A candidate 1.3x slower on the same requests, with each turn's own jitter (one of eight
# pairs below 1.2x), on a machine whose speed drifts from turn to turn, and spikes that
# triple a turn's latencies: five of the blessed model's turns in round 0 and five of the
# candidate's in round 1, then one turn a round, the blessed model's in even rounds.
JITTER = [0.88, 1.05, 0.97, 1.12, 0.95, 1.02, 0.96, 1.06]
BASE_MS = [1.0 + 0.02 * i for i in range(50)]  # one turn's 50 latencies, on a quiet machine


def _turn(latencies: list[float], seconds: float) -> Sample:
    return Sample(latencies_ms=latencies, seconds=seconds)


def _spiked(index: int, turn: int) -> str | None:
    """Whose turn of this pair a spike hits, if anyone's."""
    hit = turn < 5 if index < 2 else turn == index % len(JITTER)
    return (BLESSED if index % 2 == 0 else CANDIDATE) if hit else None


def _round(index: int) -> dict[str, Sample]:
    roles = {CANDIDATE: Sample(), BLESSED: Sample()}
    for t, jitter in enumerate(JITTER):
        machine = 1 + 0.1 * ((index + t) % 5)
        factor = {BLESSED: 1.0, CANDIDATE: 1.3 * jitter}
        if hit := _spiked(index, t):
            factor[hit] *= 3.0
        for role, sample in roles.items():
            latencies = [v * machine * factor[role] for v in BASE_MS]
            turn = _turn(latencies, sum(latencies) / 1000)
            sample.turns.append(turn)
            sample.latencies_ms += latencies
            sample.seconds += turn.seconds
    return roles


def test_a_round_gives_one_ratio_per_pair_of_turns():
    results = {1: [_round(r) for r in range(8)]}
    latency, throughput = _ratios(results, QUANTILE)[1], _throughput_ratios(results)[1]
    assert len(latency) == len(throughput) == 8 * len(JITTER)
    # Turn t of round 3 against turn t of the blessed model, the machine's drift cancelled.
    expected = [1.3 * j * (3.0 if t == 3 else 1.0) for t, j in enumerate(JITTER)]
    assert latency[24:32] == pytest.approx(expected)
    assert throughput[24:32] == pytest.approx([1 / e for e in expected])
    # A turn either model answered nothing in is no pair.
    results[1][0][CANDIDATE].turns[3] = _turn([], 0.0)
    assert len(_ratios(results, QUANTILE)[1]) == 8 * len(JITTER) - 1


def test_64_turn_pairs_fail_a_candidate_1_3x_slower_where_its_8_rounds_could_not():
    results = {level: [_round(r) for r in range(8)] for level in (1, 8)}
    ratios, throughput = _ratios(results, QUANTILE), _throughput_ratios(results)
    verdict = decide(ratios=ratios, throughput_ratios=throughput)
    latency = check(verdict, "latency_ratio")
    assert latency.state == "failed", latency.sentence
    at_one = latency.details["levels"][1]
    assert at_one["pairs"] == 64 and at_one["low"] > 1.2
    assert " over 64 turn pairs; at most 1.2x)" in latency.sentence
    # Throughput 1 / 1.3 = 0.77x: below 0.8x, but too close to it for these pairs to say.
    assert check(verdict, "throughput_ratio").state == "inconclusive"
    # The same rounds paired whole (each round's p50 over its 400 requests), as before: the
    # spikes of rounds 0 and 1 swing theirs below 1 and above 2, and 8 bound nothing.
    by_round = {
        level: [r[CANDIDATE].percentile(QUANTILE) / r[BLESSED].percentile(QUANTILE) for r in rounds]
        for level, rounds in results.items()
    }
    assert min(by_round[1]) < 1.0 and max(by_round[1]) > 2.0
    rounds_only = decide(ratios=by_round, throughput_ratios=throughput)
    assert check(rounds_only, "latency_ratio").state == "inconclusive"


# --- throughput ratio --------------------------------------------------------------------


def test_a_candidate_with_clearly_less_throughput_fails():
    halved = [0.55, 0.58, 0.52, 0.6, 0.56, 0.54, 0.57, 0.55]
    verdict = decide(throughput_ratios={1: TWINS, 8: halved})
    assert failed(verdict) == ["throughput_ratio"]
    throughput = check(verdict, "throughput_ratio")
    assert throughput.bound == 0.8 and throughput.state == "failed"
    assert throughput.sentence == (
        "throughput 0.55x blessed v3's at concurrency 8 "
        "(95% interval 0.52-0.60x over 8 turn pairs; at least 0.8x)"
    )


def test_pairs_the_candidate_answered_for_only_some_levels_are_judged_on_those():
    verdict = decide(ratios={1: TWINS, 8: []}, throughput_ratios={1: TWINS, 8: []})
    ratio = check(verdict, "latency_ratio")
    assert not ratio.blocks and ratio.state == "passed" and list(ratio.details["levels"]) == [1]
    assert "at concurrency 1 (95% interval 0.97-1.03x over 8 turn pairs" in ratio.sentence


def test_a_candidate_that_answered_no_turn_is_refused_not_crashed():
    # Killed by the memory watch during its warm-up: every turn failed, no ratio exists.
    verdict = decide(
        ratios={1: [], 8: []},
        throughput_ratios={1: [], 8: []},
        errors=320,
        first_error="ConnectionRefusedError: [Errno 111] Connection refused",
        p99_by_level={1: float("inf"), 8: float("inf")},
        peak_rss_bytes=5000 * MB,
        killed=True,
    )
    assert not verdict.lets_through
    assert check(verdict, "memory").blocks
    ratio = check(verdict, "latency_ratio")
    assert ratio.blocks and ratio.value is None and ratio.state == "failed"
    assert "no turn pair was answered by both" in ratio.sentence


# --- absolute checks -----------------------------------------------------------------------


def test_the_p99_budget_is_judged_at_the_worst_level():
    verdict = decide(p99_by_level={1: 12.0, 8: 300.0})
    assert failed(verdict) == ["p99_budget"]
    budget = check(verdict, "p99_budget")
    assert (budget.value, budget.bound) == (pytest.approx(300.0), 250.0)
    assert budget.sentence == "p99 latency 300.0 ms at concurrency 8 (budget 250 ms)"
    assert check(decide(p99_by_level={1: 12.0, 8: 250.0}), "p99_budget").state == "passed"


def test_memory_above_the_ceiling_fails():
    verdict = decide(peak_rss_bytes=5000 * MB)
    assert failed(verdict) == ["memory"]
    memory = check(verdict, "memory")
    assert (memory.value, memory.bound) == (pytest.approx(5000.0), 4096)
    assert memory.sentence == "peak memory 5000 MB (ceiling 4096 MB)"
    assert check(decide(peak_rss_bytes=4096 * MB), "memory").state == "passed"


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
    assert (parity.value, parity.bound) == (pytest.approx(0.25), 1e-5)
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
    assert not ok.blocks and ok.sentence == (
        "5 malformed requests each got a 4xx, and the server stayed healthy"
    )
    assert check(decide(healthy_after=False), "malformed").blocks


def test_failed_valid_requests_fail_naming_the_first():
    verdict = decide(errors=3, first_error="HTTP 500: b'boom'")
    assert failed(verdict) == ["errors"]
    errors = check(verdict, "errors")
    assert (errors.value, errors.bound) == (3, 0)
    assert errors.sentence == "3 of 321 valid requests failed (first: HTTP 500: b'boom')"
    assert check(decide(), "errors").sentence == "all 321 valid requests answered"


# --- what the candidate is compared with, and the sentence -------------------------------


def test_a_first_model_is_judged_on_absolute_budgets_only():
    verdict = decide(baseline_version=None, ratios=None)
    assert verdict.lets_through
    assert "p99_ratio" not in [c.name for c in verdict.checks]
    assert verdict.compared_with == ""
    assert verdict.note == "No blessed model to compare with: judged on absolute budgets only."
    assert verdict.sentence.endswith(". " + verdict.note)
    slow = decide(baseline_version=None, ratios=None, p99_by_level={1: 400.0})
    assert slow.sentence == (
        "Not infra-blessed: p99 latency 400.0 ms at concurrency 1 (budget 250 ms). "
        "No blessed model to compare with: judged on absolute budgets only."
    )


def test_the_blessed_model_itself_is_judged_on_absolute_budgets():
    verdict = decide(baseline_version=3, ratios=None, same_as_blessed=True)
    assert verdict.lets_through
    assert "p99_ratio" not in [c.name for c in verdict.checks]
    assert verdict.note == "The candidate is blessed v3 itself: judged on absolute budgets."


def test_the_sentence_lists_every_reason_when_blessed_and_the_failed_ones_when_not():
    good = decide()
    assert good.sentence.startswith("Infra-blessed: all 321 valid requests answered; p50 ")
    assert good.sentence == (
        "Infra-blessed: " + "; ".join(c.sentence for c in good.checks) + ". " + good.policy
    )
    bad = decide(errors=1, first_error="HTTP 503", peak_rss_bytes=5000 * MB)
    assert bad.sentence == (
        "Not infra-blessed: 1 of 321 valid requests failed (first: HTTP 503); "
        "peak memory 5000 MB (ceiling 4096 MB). " + bad.policy
    )
    record = bad.to_dict()
    assert record["lets_through"] is False and record["sentence"] == bad.sentence
    assert record["state"] == "failed" and record["compared_with"] == "blessed v3"
    assert [c["name"] for c in record["checks"]] == [c.name for c in bad.checks]
    assert record["checks"][0] == {
        "name": "errors",
        "state": "failed",
        "sentence": "1 of 321 valid requests failed (first: HTTP 503)",
        "metric": "errors",
        "slice": None,
        "value": 1,
        "bound": 0,
        "blocks": True,
        "details": {},
    }
    assert Verdict.from_dict(record) == bad
    assert record["checks"][1]["state"] == "passed" and record["policy"] == bad.policy


# --- the policy's own errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    "values, field, expected",
    [
        ({"max_latency_ratio": 0.5}, "max_latency_ratio", "a ratio from 1.0 to 100, got 0.5"),
        # What an attacker's probe of the spec found accepted: each refused by name.
        ({"max_latency_ratio": math.inf}, "max_latency_ratio", "a ratio from 1.0 to 100"),
        ({"max_latency_ratio": math.nan}, "max_latency_ratio", "a ratio from 1.0 to 100"),
        ({"concurrency": [100000]}, "concurrency[0]", "at most 256 clients at once"),
        ({"replay_window_hours": 1e12}, "replay_window_hours", "a number of hours above 0"),
        ({"max_minutes": 1e-9}, "max_minutes", "a number of minutes from 1 to 1440"),
        ({"parity_tolerance": math.inf}, "parity_tolerance", "zero or a positive number up"),
        ({"latency_quantile": 100}, "latency_quantile", "a percentile from 1 to 99.9"),
        ({"min_throughput_ratio": 0}, "min_throughput_ratio", "a ratio above 0 and at most"),
        ({"min_throughput_ratio": 2}, "min_throughput_ratio", "a ratio above 0 and at most"),
        ({"confidence": 1.0}, "confidence", "a confidence from 0.5 to 0.999"),
        ({"max_rounds": 4}, "max_rounds", "a number of rounds from rounds (8) to 1000"),
        ({"on_inconclusive": "maybe"}, "on_inconclusive", "one of push, refuse"),
        ({"min_logged_requests": 0}, "min_logged_requests", "a number of requests from 1"),
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
    path = _spec(tmp_path, GOOD + "sandbox: {max_latency_ratio: .inf}\n")
    with pytest.raises(SpecError) as refused:
        load_spec(path)
    assert str(refused.value) == (
        f"{path}:5: field 'sandbox.max_latency_ratio': expected a ratio from 1.0 to 100, got inf"
    )
