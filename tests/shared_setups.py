"""Which tests must share a pytest-xdist worker: derived from the fixtures they ask for.

A fixture wider than one test (session- or module-scoped, defined in this suite: an Airflow
project, a trained and pushed model, running model servers, a browser) is built once per
worker process. Tests linked through such fixtures, directly or through a test that uses
several, form one group and run on one worker (``--dist loadgroup``), so nothing expensive
is built twice; every other test goes to whichever worker is free.
"""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
WIDE = ("session", "package", "module")


def _shared_fixtures(item) -> list[tuple[str, str]]:
    """Keys of the suite's wide fixtures ``item`` uses (also through other fixtures): a
    session fixture is one instance everywhere, a module fixture one per test module."""
    keys = []
    for name, definitions in item._fixtureinfo.name2fixturedefs.items():
        definition = definitions[-1]
        where = Path(getattr(definition.func, "__code__", None).co_filename).resolve()
        if definition.scope not in WIDE or not where.is_relative_to(TESTS):
            continue
        scope_of = item.nodeid.split("::")[0] if definition.scope == "module" else "session"
        keys.append((name, scope_of))
    return keys


def groups(items) -> dict[str, str]:
    """nodeid -> group name, for the tests that share a wide fixture with another test."""
    parent: dict = {}

    def find(key):
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    uses = {item.nodeid: _shared_fixtures(item) for item in items}
    for keys in uses.values():
        for other in keys[1:]:
            parent[find(other)] = find(keys[0])
    members: dict = {}
    for nodeid, keys in uses.items():
        if keys:
            members.setdefault(find(keys[0]), []).append(nodeid)
    named = {}
    for root, nodeids in members.items():
        if len(nodeids) > 1:
            name = f"{root[0]}.{root[1]}"  # no "@": xdist splits the group off at the last one
            named.update(dict.fromkeys(nodeids, name))
    return named
