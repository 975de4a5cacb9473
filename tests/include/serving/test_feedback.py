"""``POST /v1/models/{name}/feedback`` on a real server: what it refuses, and what the
logged requests joined with it (labeled_samples) hold afterwards."""

from __future__ import annotations

import signal

import httpx
import pytest

from tests.include.serving.conftest import MODEL, ServerProcess, instances, post

pytestmark = pytest.mark.slow
BASE = f"/v1/models/{MODEL}"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"label": 1}, "request_id"),
        ({"request_id": "", "label": 1}, "request_id"),
        ({"request_id": "r0"}, "label"),
        ({"request_id": "r0", "label": "yes"}, "label"),
        ({"request_id": "r0", "reward": "lots"}, "reward"),
        ({"request_id": "r0", "reward": True}, "reward"),
        ({"request_id": "r0", "label": 1, "score": 0.3}, "score"),
        # Each once answered 200: a label outside the binary label's classes, one the
        # int64 column cannot hold (its flush then lost every buffered feedback), ids of
        # any size or content.
        ({"request_id": "r0", "label": 2}, "label"),
        ({"request_id": "r0", "label": 1.5}, "label"),
        ({"request_id": "r0", "label": 1180591620717411303424}, "label"),
        ({"request_id": "r" * 129, "label": 1}, "request_id"),
        ({"request_id": "two words", "label": 1}, "request_id"),
        ({"request_id": "r0\n", "label": 1}, "request_id"),
        ({"request_id": 7, "label": 1}, "request_id"),
    ],
    ids=[
        "no-id",
        "empty-id",
        "nothing",
        "label-type",
        "reward-type",
        "reward-bool",
        "unknown",
        "label-not-a-class",
        "label-fraction",
        "label-past-int64",
        "id-too-long",
        "id-space",
        "id-newline",
        "id-number",
    ],
)
def test_bad_feedback_is_a_400_naming_the_field(feedback_server, body, field):
    answer = post(feedback_server, f"{BASE}/feedback", body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith(f"{field}:")


def test_feedback_for_another_model_is_a_404_and_bad_json_a_400(feedback_server):
    other = post(feedback_server, "/v1/models/nope/feedback", {"request_id": "r0", "label": 1})
    assert other.status_code == 404 and "'nope'" in other.json()["error"]
    broken = httpx.post(f"{feedback_server.url}{BASE}/feedback", content=b"{no", timeout=30)
    assert broken.status_code == 400


def test_a_feedback_body_over_64_kb_is_a_413(feedback_server):
    big = post(
        feedback_server, f"{BASE}/feedback", {"request_id": "r0", "label": 1, "x": "y" * 70_000}
    )
    assert big.status_code == 413 and "65536 bytes" in big.json()["error"]
    small = post(feedback_server, f"{BASE}/feedback", {"request_id": "r0", "label": 1})
    assert small.status_code == 200, small.text


@pytest.fixture(scope="module")
def feedback_server(trained, tmp_path_factory):
    process = ServerProcess(
        trained.settings,
        "--sample-rate",
        "1",
        env={"MLRAIL_LOG_ROOT": str(tmp_path_factory.mktemp("feedback") / "logs")},
    )
    try:
        yield process.start()
    finally:
        process.stop(signal.SIGKILL)


def test_labeled_samples_join_logged_requests_to_their_feedback(trained, tmp_path):
    from mlrail.data.serving_logs import labeled_samples

    assert trained.schema["label"]["type"] == "int"  # the label column keeps the schema's type
    log_root = tmp_path / "logs"
    process = ServerProcess(
        trained.settings, "--sample-rate", "1", env={"MLRAIL_LOG_ROOT": str(log_root)}
    )
    try:
        process.start()
        scores = {}
        for i in range(4):
            answer = post(
                process,
                f"{BASE}:predict",
                {"instances": instances(trained, 2, start=3 * i)},
                headers={"X-Request-ID": f"r{i}"},
            )
            assert answer.status_code == 200, answer.text
            scores[f"r{i}"] = sorted(p["score"] for p in answer.json()["predictions"])
        sent = [
            {"request_id": "r1", "label": 1},
            {"request_id": "r3", "label": 1, "reward": 0.5},
            {"request_id": "r3", "label": 0},  # a correction: the latest label wins
            {"request_id": "never-logged", "label": 1},  # feedback without a request
        ]
        for body in sent:
            answer = post(process, f"{BASE}/feedback", body)
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"request_id": body["request_id"]}
            # A label the log cannot store, once answered 200 and then fatal to the
            # buffered feedback around it: refused, and the others are all kept.
            past = post(process, f"{BASE}/feedback", {"request_id": "r1", "label": 2**70})
            assert past.status_code == 400, past.text
        # SIGTERM: lifespan shutdown flushes both logs; a single uvicorn process then
        # re-raises the signal it caught, so it exits with -SIGTERM.
        assert process.stop() in (0, -signal.SIGTERM), process.output()
    finally:
        process.stop(signal.SIGKILL)
    table = labeled_samples(log_root, MODEL).to_pylist()
    got = sorted((r["request_id"], r["label"], r["reward"]) for r in table)
    assert got == [("r1", 1, None), ("r1", 1, None), ("r3", 0, 0.5), ("r3", 0, 0.5)]
    for request_id in ("r1", "r3"):
        logged = sorted(r["prediction_score"] for r in table if r["request_id"] == request_id)
        assert logged == pytest.approx(scores[request_id])
