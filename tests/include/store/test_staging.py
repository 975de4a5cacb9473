"""The one staging-folder naming rule: what a writer names, cleanup reads back."""

from pathlib import Path

from mlrail.store.staging import PATTERN, staged_by, staging_of, staging_path


def test_a_staging_folder_names_what_it_becomes_and_who_writes_it(tmp_path):
    final = tmp_path / "taxi" / "3"
    tagged, untagged = staging_path(final, execution_id=42), staging_path(final)
    assert tagged.parent == untagged.parent == final.parent
    assert tagged.name.startswith(".3.staging-e42-") and untagged.name.startswith(".3.staging-")
    assert staging_of(tagged) == ("3", 42) and staging_of(untagged) == ("3", None)
    assert staging_path(final) != untagged  # a fresh name each time
    # What the code before the rule left (an untagged push copy) still parses.
    assert staging_of(Path(".3.staging-0a1b2c3d")) == ("3", None)
    assert staging_of(Path("3")) is None and staging_of(Path(".3.tmp")) is None


def test_staged_by_finds_only_that_execution_s_copies(tmp_path):
    mine = [staging_path(tmp_path / str(v), 7) for v in (1, 2)]
    other = staging_path(tmp_path / "3", 8)
    for path in (*mine, other, staging_path(tmp_path / "4"), tmp_path / "5"):
        path.mkdir()
    assert sorted(staged_by(tmp_path, 7)) == sorted(mine)
    assert len(list(tmp_path.glob(PATTERN))) == 4
