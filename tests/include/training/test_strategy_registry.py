"""The training strategies are registered objects: what each reads from the spec, how it
launches on this machine and its Vertex AI pools come from its registration, and every
caller (the entrypoint's options, the spec's check, the pools) reads them from there."""

import dataclasses

import pytest

from mlrail.spec import TrainSpec
from mlrail.train import build_parser
from mlrail.training.strategies import DEFAULT, STRATEGIES, Pool, strategy


def test_every_strategy_reads_only_fields_the_spec_has():
    fields = {f.name for f in dataclasses.fields(TrainSpec)}
    for registered in STRATEGIES.values():
        assert set(registered.fields) <= fields, registered.name
    assert TrainSpec().strategy == DEFAULT and STRATEGIES[DEFAULT].in_task_process


def test_the_entrypoint_offers_every_registered_strategy_with_its_description():
    parser = build_parser()
    (option,) = [a for a in parser._actions if a.dest == "strategy"]
    assert option.choices == list(STRATEGIES) and option.default == DEFAULT
    for registered in STRATEGIES.values():
        assert f"{registered.name} ({registered.description})" in option.help


def test_an_unregistered_strategy_is_refused_by_name():
    with pytest.raises(ValueError, match="strategy 'horovod': expected one of single, "):
        strategy("horovod")


@pytest.mark.parametrize(
    ("name", "workers", "pools"),
    [
        ("single", 3, [Pool(1)]),
        ("mirrored", 3, [Pool(1)]),
        ("multi_worker", 1, [Pool(1)]),
        ("multi_worker", 3, [Pool(1), Pool(2)]),
        ("parameter_server", 3, [Pool(1), Pool(3), Pool(2, "ps")]),
    ],
)
def test_vertex_pools_follow_the_strategy(name, workers, pools):
    train = TrainSpec(strategy=name, workers=workers, parameter_servers=2)
    assert list(strategy(name).vertex_pools(train)) == pools


def test_local_clusters_and_serving_tasks():
    assert STRATEGIES["single"].local_tasks is None and STRATEGIES["mirrored"].local_tasks is None
    assert STRATEGIES["multi_worker"].local_tasks(3, 1) == {"worker": 3}
    ps = STRATEGIES["parameter_server"]
    assert ps.local_tasks(2, 1) == {"chief": 1, "worker": 2, "ps": 1}
    assert ps.serves("worker") and ps.serves("ps") and not ps.serves("chief")
    assert not STRATEGIES["multi_worker"].serves("worker")
