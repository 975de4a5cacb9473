"""The wheel holds every package of the core and the operator library (pyproject finds
them; a hand-written list once left mlrail.statistics out)."""

import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _packages(top: str) -> set[str]:
    """Every package under ``top`` on disk: a folder holding an __init__.py."""
    base = ROOT / {"mlrail": "include", "mlrail_airflow": "plugins"}[top]
    return {
        ".".join(init.parent.relative_to(base).parts)
        for init in (base / top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }


def test_wheel_holds_every_package_and_module(tmp_path):
    # Built from a copy: a build writes build/ and *.egg-info next to the sources.
    source = tmp_path / "source"
    for name in ("pyproject.toml", "README.md"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    for folder in ("include/mlrail", "plugins/mlrail_airflow"):
        shutil.copytree(
            ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = tmp_path.glob("mlrail-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    packaged = {
        name.rsplit("/", 1)[0].replace("/", ".") for name in names if name.endswith("/__init__.py")
    }
    expected = _packages("mlrail") | _packages("mlrail_airflow")
    assert {"mlrail.data.statistics", "mlrail.training", "mlrail_airflow.operators"} <= expected
    assert packaged == expected
    # Every file of the packages, Python or not (templates, stylesheets).
    files = {
        str(path.relative_to(ROOT / folder))
        for folder, top in (("include", "mlrail"), ("plugins", "mlrail_airflow"))
        for path in (ROOT / folder / top).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert any(name.endswith(".html") for name in files)
    assert files <= names, sorted(files - names)


def test_no_source_file_is_ignored_by_git():
    """An ignored file is in this checkout and in no clone: a `data/` pattern once hid
    the whole mlrail.data package from git (and from ruff, which reads .gitignore)."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    done = subprocess.run(
        [
            "git",
            "ls-files",
            "--others",
            "--ignored",
            "--exclude-standard",
            "--",
            "include",
            "plugins",
            "dags",
            "tests",
            "benchmarks",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    # benchmarks/.work is the benchmarks' scratch space (peer virtualenvs, generated data).
    ignored = [
        p
        for p in done.stdout.splitlines()
        if p.endswith((".py", ".yaml", ".json", ".md")) and not p.startswith("benchmarks/.work/")
    ]
    assert ignored == []
