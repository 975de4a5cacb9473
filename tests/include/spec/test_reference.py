"""The spec's reference is derived from the spec's code, and the copy in docs/ is current."""

import dataclasses

from mlrail.cli import registered_choices
from mlrail.spec import PipelineSpec
from mlrail.spec.reference import entries, reference_markdown
from tests.conftest import ROOT


def test_docs_spec_md_is_the_reference_the_code_gives():
    written = (ROOT / "docs" / "spec.md").read_text()
    assert written == reference_markdown(registered_choices()), (
        "docs/spec.md differs from the spec's code: run "
        "`.venv/bin/python -m mlrail spec-reference > docs/spec.md`"
    )


def test_every_field_of_every_section_is_there_with_a_meaning():
    found = {e.path: e for e in entries()}
    for section in dataclasses.fields(PipelineSpec):
        if section.name in ("path", "digest"):
            continue
        assert section.name in found
    # Nested sections, list items and mapping values are reached too.
    assert {
        "data.features.include",
        "train.stages[].epochs",
        "sandbox.on_inconclusive",
        "evaluation.thresholds.<metric>.min",
        "statistics.top_k",
    } <= set(found)
    assert found["sandbox.on_inconclusive"].default == "'push'"
    assert found["data.source"].default == "required"
    assert [path for path, e in found.items() if not e.meaning] == []


def test_a_registered_fields_values_are_listed():
    line = next(
        x for x in reference_markdown(registered_choices()).splitlines() if "`train.strategy`" in x
    )
    assert "(one of: single, mirrored, multi_worker, parameter_server)" in line


def test_the_example_spec_points_at_the_reference():
    example = (ROOT / "include" / "pipelines" / "taxi_tips.yaml").read_text()
    assert "docs/spec.md" in example
