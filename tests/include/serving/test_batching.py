"""Dynamic batching on literal arrays: merged calls, each request its own rows back."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from mlrail.serving.batching import Batcher
from mlrail.serving.config import ServerConfig


class Doubling:
    """A model stand-in on plain arrays that records the size of every call it gets."""

    def __init__(self, fail: bool = False):
        self.sizes: list[int] = []
        self.fail = fail

    def __call__(self, columns):
        self.sizes.append(len(columns["x"]))
        if self.fail:
            raise RuntimeError("model call failed")
        return {"y": columns["x"] * 2, "rows": np.arange(len(columns["x"]))}


def _submit_all(batcher: Batcher, requests: list[list[float]]):
    async def run():
        columns = [{"x": np.array(r, dtype="f4").reshape(-1, 1)} for r in requests]
        return await asyncio.gather(
            *(batcher.submit(c, len(c["x"])) for c in columns), return_exceptions=True
        )

    try:
        return asyncio.run(run())
    finally:
        batcher.close()


def test_concurrent_requests_share_one_call_and_get_their_own_rows():
    model = Doubling()
    requests = [[1.0], [2.0, 3.0], [4.0], [5.0, 6.0, 7.0]]
    answers = _submit_all(Batcher(model, max_batch_size=64, batch_timeout_micros=50_000), requests)
    assert model.sizes == [7]
    for request, answer in zip(requests, answers, strict=True):
        assert answer["y"].reshape(-1).tolist() == [2 * v for v in request]


def test_a_batch_never_exceeds_max_batch_size_but_an_oversized_request_runs_alone():
    model = Doubling()
    requests = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0] * 5]
    answers = _submit_all(Batcher(model, max_batch_size=4, batch_timeout_micros=50_000), requests)
    assert max(model.sizes[:-1]) <= 4 and sum(model.sizes) == 11
    assert model.sizes[-1] == 5  # larger than a batch: answered, not refused
    assert answers[3]["y"].reshape(-1).tolist() == [14.0] * 5


def test_a_failed_call_fails_each_request_alone_only_if_it_fails_alone():
    model = Doubling(fail=True)
    answers = _submit_all(Batcher(model, 8, 50_000), [[1.0], [2.0]])
    assert [str(a) for a in answers] == ["model call failed"] * 2
    assert model.sizes == [2, 1, 1]  # the merged call, then each request by itself


class Poisoned(Doubling):
    """Fails any call that holds the value -1: one bad request in a batch."""

    def __call__(self, columns):
        if (columns["x"] == -1).any():
            self.sizes.append(len(columns["x"]))
            raise RuntimeError("cannot take -1")
        return super().__call__(columns)


def test_one_request_the_model_cannot_take_fails_only_itself():
    model = Poisoned()
    answers = _submit_all(Batcher(model, 8, 50_000), [[1.0], [-1.0], [3.0]])
    assert str(answers[1]) == "cannot take -1"
    assert [answers[0]["y"][0, 0], answers[2]["y"][0, 0]] == [2.0, 6.0]
    assert model.sizes == [3, 1, 1, 1]


def test_zero_timeout_calls_at_once():
    model = Doubling()
    answers = _submit_all(Batcher(model, 8, 0), [[1.0], [2.0], [3.0]])
    # The first request runs alone at once; the others queue behind it and share a call.
    assert model.sizes == [1, 2] and [a["y"][0, 0] for a in answers] == [2.0, 4.0, 6.0]


HOUR_MICROS = 3_600_000_000  # a batch timeout no test may wait for
HANG_GUARD = 30.0  # seconds: only there so that a regression fails instead of hanging


def _run_guarded(batcher: Batcher, scenario):
    async def guarded():
        return await asyncio.wait_for(scenario(batcher), HANG_GUARD)

    try:
        return asyncio.run(guarded())
    finally:
        batcher.close()


def _columns(values: list[float]):
    return {"x": np.array(values, dtype="f4").reshape(-1, 1)}, len(values)


def test_a_lone_request_does_not_wait_for_the_timeout():
    model = Doubling()

    async def one_after_another(batcher):
        return [(await batcher.submit(*_columns([v])))["y"][0, 0] for v in (1.0, 2.0, 3.0)]

    answers = _run_guarded(Batcher(model, 64, HOUR_MICROS), one_after_another)
    assert answers == [2.0, 4.0, 6.0] and model.sizes == [1, 1, 1]  # each ran alone, at once


def test_after_a_merged_batch_an_arrival_at_an_idle_model_waits_for_company():
    model = Doubling()

    async def scenario(batcher):
        await asyncio.gather(*(batcher.submit(*_columns([v])) for v in (1.0, 2.0, 3.0)))
        first = asyncio.ensure_future(batcher.submit(*_columns([4.0, 5.0])))
        for _ in range(10):  # give an eager flush every chance to happen
            await asyncio.sleep(0)
        waiting = not first.done()
        second = await batcher.submit(*_columns([6.0, 7.0, 8.0]))  # fills the batch of 5
        return waiting, (await first)["y"].reshape(-1).tolist(), second["y"].reshape(-1).tolist()

    waiting, first, second = _run_guarded(Batcher(model, 5, HOUR_MICROS), scenario)
    assert waiting and model.sizes == [3, 5]  # the two later requests shared one call
    assert first == [8.0, 10.0] and second == [12.0, 14.0, 16.0]


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_batch_size", 0), ("batch_timeout_micros", -1), ("port", 70000), ("sample_rate", 2)],
)
def test_config_names_the_invalid_field(field, value):
    with pytest.raises(ValueError, match=f"invalid {field}"):
        ServerConfig(model="m", serving_root="/tmp", **{field: value})


def test_config_reads_the_vertex_variables_and_survives_the_trip_to_a_worker(monkeypatch):
    monkeypatch.setenv("AIP_HTTP_PORT", "9123")
    monkeypatch.setenv("AIP_PREDICT_ROUTE", "/v1/endpoints/1/deployedModels/2:predict")
    config = ServerConfig.from_env("m", "/srv", max_batch_size=8, host=None)
    assert config.port == 9123 and config.max_batch_size == 8 and config.host == "127.0.0.1"
    assert config.predict_route == "/v1/endpoints/1/deployedModels/2:predict"
    for name, value in config.to_env().items():
        monkeypatch.setenv(name, value)
    assert ServerConfig.from_serve_env() == config
