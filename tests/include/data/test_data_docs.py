"""The Data Docs GX writes for a validation: offline, named by split and dataset version,
inert whatever the column names, and still showing the results."""

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pandas as pd
import pytest

from mlrail.data.data_docs import HOUSE_STYLESHEET, is_local, offline_page
from mlrail.data.expectations import SuiteSpec, run_expectations

SCRIPT_COLUMN = '"><script>alert(1)</script>'
IMAGE_COLUMN = '<img src="https://example.invalid/x.png" onerror="alert(2)">'
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "srcset", "poster", "data", "background"}


class Page(HTMLParser):
    """What a browser would find in a page: its tags with attributes, and its text."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.chunks: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.chunks))  # cells apart, as shown

    def urls(self) -> list[tuple[str, str, str]]:
        return [
            (tag, name, value or "")
            for tag, attrs in self.tags
            for name, value in attrs.items()
            if name in URL_ATTRIBUTES
        ]


@pytest.fixture(scope="module")
def validated(tmp_path_factory) -> tuple[Path, dict]:
    """Real GX on two small splits: fares over 10 fail in train; two columns named like
    markup; a user suite whose name has a dot (GX makes folders of it)."""
    frames = {
        "train": pd.DataFrame({"fare": [1.0, 2.0, 30.0], SCRIPT_COLUMN: [1, 2, 3]}),
        "eval": pd.DataFrame({"fare": [1.0, 2.0], SCRIPT_COLUMN: [1, 2]}),
    }
    frames = {s: f.assign(**{IMAGE_COLUMN: 0}) for s, f in frames.items()}
    suites = [
        SuiteSpec(
            "mlrail_schema",
            [
                {"type": "expect_column_to_exist", "kwargs": {"column": c}}
                for c in (SCRIPT_COLUMN, IMAGE_COLUMN)
            ],
            blocking=False,
            source="schema",
        ),
        SuiteSpec(
            "taxi.fares",
            [
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {"column": "fare", "min_value": 0, "max_value": 10},
                }
            ],
            blocking=True,
            source="fares.json",
        ),
    ]
    directory = tmp_path_factory.mktemp("gx") / "gx_docs"
    return directory, run_expectations(frames, suites, directory, dataset="taxi_tips", version=3)


@pytest.fixture
def docs(validated) -> Path:
    return validated[0]


@pytest.mark.slow
def test_every_expectation_of_a_suite_is_checked(validated):
    summary = validated[1]
    assert {split: s["evaluated"] for split, s in summary["mlrail_schema"].items()} == {
        "train": 2,  # two expect_column_to_exist: GX's upsert by domain used to keep one
        "eval": 2,
    }
    assert [f["observed"] for f in summary["taxi.fares"]["train"]["failed"]] == [[30.0]]
    assert summary["taxi.fares"]["eval"] == {"success": True, "evaluated": 1, "failed": []}


def _pages(docs: Path) -> dict[str, Page]:
    return {
        p.relative_to(docs).as_posix(): Page(p.read_text("utf-8")) for p in docs.rglob("*.html")
    }


def _validation_page(docs: Path, suite: str, split: str) -> Page:
    (path,) = docs.glob(f"validations/{suite}/*/*/taxi_tips-{split}.html")
    return Page(path.read_text("utf-8"))


@pytest.mark.slow
def test_no_page_loads_anything_from_outside_the_docs(docs):
    pages = _pages(docs)
    assert "index.html" in pages and len(pages) == 1 + 2 + 4  # index, 2 suites, 2x2 results
    for name, page in pages.items():
        assert not any(tag in ("script", "style", "iframe", "form") for tag, _ in page.tags)
        for tag, _, url in page.urls():
            assert not re.match(r"\s*([a-z][a-z0-9+.-]*:|//|\\)", url, re.I), (name, tag, url)
            if url == HOUSE_STYLESHEET or url.startswith("#"):
                continue
            # Every other link leads to a file of the docs.
            target = (docs / name).parent / unquote(urlsplit(url).path)
            assert target.resolve().is_file(), (name, url)
        stylesheets = [a["href"] for t, a in page.tags if t == "link"]
        assert stylesheets[0] == HOUSE_STYLESHEET and len(stylesheets) == 2, name
    for sheet in docs.rglob("*.css"):
        assert "url(" not in sheet.read_text("utf-8") and "@import" not in sheet.read_text("utf-8")
    assert not list(docs.rglob("*.otf"))  # GX's fonts and images are no longer copied


@pytest.mark.slow
def test_pages_name_the_split_and_the_dataset_version(docs):
    index = Page((docs / "index.html").read_text("utf-8"))
    assert "Data Docs | taxi_tips v3" in index.text
    linked = {unquote(v) for t, n, v in index.urls() if v.startswith("validations/")}
    assert linked == {p.relative_to(docs).as_posix() for p in docs.glob("validations/**/*.html")}
    # Each result is a row: status, split, dataset, suite; the failing one comes first.
    assert "failed train taxi_tips v3 taxi.fares 1 1" in index.text
    assert "passed eval taxi_tips v3 taxi.fares 1 0" in index.text
    for suite in ("mlrail_schema", "taxi/fares"):
        for split in ("train", "eval"):
            page = _validation_page(docs, suite, split)
            assert f"Data asset: taxi_tips v3 · {split}" in page.text
            assert f"Validations / {suite.replace('/', '.')} / taxi_tips v3 · {split}" in page.text
            assert "Run Name taxi_tips v3" in page.text


@pytest.mark.slow
def test_a_column_named_like_markup_stays_text(docs):
    for name, page in _pages(docs).items():
        assert not [t for t, _ in page.tags if t == "script"], name
        assert not [a for _, attrs in page.tags for a in attrs if a.startswith("on")], name
        assert not [u for t, _, u in page.urls() if "example.invalid" in u], name
    for page in (
        _validation_page(docs, "mlrail_schema", "train"),
        Page((docs / "expectations" / "mlrail_schema.html").read_text("utf-8")),
    ):
        assert SCRIPT_COLUMN in page.text  # shown as the name it is, in its section heading


@pytest.mark.slow
def test_the_pages_still_show_the_results(docs):
    failed = _validation_page(docs, "taxi/fares", "train")
    assert "Status: Failed" in failed.text
    assert "values must be greater than or equal to 0.0 and less than or equal to 10.0" in (
        failed.text
    )
    assert "1 unexpected values found" in failed.text and "30.0" in failed.text
    assert ("i", {"class": "fas fa-times text-danger", "aria-hidden": "true"}) in failed.tags
    passed = _validation_page(docs, "taxi/fares", "eval")
    assert "Status: Succeeded" in passed.text and "Successful Expectations 1" in passed.text
    suite = Page((docs / "expectations" / "taxi" / "fares.html").read_text("utf-8"))
    assert "values must be greater than or equal to 0.0" in suite.text


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("index.html", True),
        ("../../expectations/taxi/fares.html", True),
        ("#section-1", True),
        ("validations/s/taxi_tips%20v3/t/taxi_tips-train.html", True),
        ("/mlrail/static/mlrail.css", True),
        ("https://cdn.example/x.js", False),
        ("//cdn.example/x.js", False),
        ("/\t/cdn.example/x.js", False),
        ("\\\\cdn.example/x.js", False),
        ("/\\cdn.example/x.js", False),
        ("java\nscript:alert(1)", False),
        (" data:text/html,x", False),
    ],
)
def test_is_local_reads_urls_as_a_browser_does(url, local):
    assert is_local(url) is local


def test_offline_page_keeps_structure_and_drops_what_would_load_or_run():
    page = offline_page(
        '<!DOCTYPE html><html><head><meta charset="UTF-8">'
        '<meta http-equiv="refresh" content="0; url=https://example.invalid">'
        '<link rel="stylesheet" href="https://cdn.example/bootstrap.css">'
        "<style>body { background: url(https://example.invalid/x.png) }</style>"
        '<script src="https://cdn.example/jquery.js"></script></head>'
        '<body><div class="x" style="height: 70px" onclick="go()">'
        '<a href="javascript:alert(1)">j</a><a href="../index.html">home</a>'
        '<span style="background:url(https://example.invalid/y)">s</span>'
        '<img src="https://example.invalid/logo.png" alt="GX logo">'
        '<p>a &amp; b &lt;script&gt;</p><h5>"><script>alert(1)</script></h5>'
        "<script>$('.x').modal()</script>"
        '<table class="t idx"></table></div></body></html>',
        depth=2,
        fill={"idx": "<tbody><tr><td>row</td></tr></tbody>"},
    )
    assert page == (
        '<!DOCTYPE html><html><head><link rel="stylesheet" href="/mlrail/static/mlrail.css">'
        '<link rel="stylesheet" href="../../static/mlrail-gx.css"><meta charset="utf-8">'
        '</head><body><div class="x" style="height: 70px"><a>j</a>'
        '<a href="../index.html">home</a><span>s</span>GX logo'
        '<p>a &amp; b &lt;script&gt;</p><h5>"&gt;&lt;script&gt;alert(1)&lt;/script&gt;</h5>'
        '<table class="t idx"><tbody><tr><td>row</td></tr></tbody></table></div></body></html>'
    )
