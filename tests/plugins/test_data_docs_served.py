"""The Data Docs of a validation as the /mlrail pages serve them: a run whose validation
was a cache hit says, on every page, which run computed them; other runs serve them as
stored. Recorded by the real pipeline components (GX included) through the real runner."""

from html.parser import HTMLParser
from urllib.parse import quote, unquote, urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient

from mlrail_airflow.web import Access, create_app
from tests.plugins.web_records import record_validation

pytestmark = pytest.mark.slow

DAG = "taxi_tips_training"
# Run ids recorded outside Airflow can hold anything: the banner shows this one as text.
COMPUTING = 'manual__"<i>&1'
REUSING = "scheduled__2"


class FirstInBody(HTMLParser):
    """The first element of a page's body: its tag, attributes, text and inner tags."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.in_body = False
        self.depth = 0
        self.first: tuple[str, dict] | None = None
        self.inner: list[tuple[str, dict]] = []
        self.text = ""
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        if tag == "body":
            self.in_body = True
        elif self.in_body and self.first is None:
            self.first, self.depth = (tag, dict(attrs)), 1
        elif self.depth:
            self.inner.append((tag, dict(attrs)))
            self.depth += 1

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1
            if not self.depth:
                self.in_body = False  # the rest is the page, as stored

    def handle_data(self, data):
        if self.depth:
            self.text += data


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from mlrail.data.datagen import TaxiConfig, generate_taxi_trips, write_dataset
    from mlrail.store.runner import Env
    from mlrail.store.settings import Settings
    from tests.conftest import spec_for

    root = tmp_path_factory.mktemp("served")
    settings = Settings(
        artifact_root=str(root / "artifacts"),
        metadata_url=f"sqlite:///{root / 'metadata.db'}",
        serving_root=str(root / "serving"),
    )
    env = Env.open(settings)
    data = write_dataset(generate_taxi_trips(TaxiConfig(rows=1500, seed=7)), root / "t.parquet")
    spec = spec_for(data)
    computed = record_validation(env, spec, DAG, COMPUTING)
    reused = record_validation(env, spec, DAG, REUSING)
    assert not computed.cached and reused.cached_from == computed.execution_id
    access = Access(user=lambda: "tester", may_read=lambda user, dag_id: True)
    yield env, TestClient(create_app(lambda: settings, access)), computed
    env.metadata.close()


def _stored_docs(env, computed) -> dict[str, bytes]:
    uri = computed.outputs["anomalies"].uri
    files = env.artifacts.commit_info(uri).files
    docs = {f.removeprefix("gx_docs/"): f for f in files if f.startswith("gx_docs/")}
    return {path: env.artifacts.fs.cat_file(f"{uri}/{f}") for path, f in docs.items()}


def _url(run_id: str, path: str) -> str:
    return f"/runs/{DAG}/{quote(run_id, safe='')}/gx-docs/{quote(path)}"


def test_a_cached_validation_names_the_run_that_computed_its_docs(served):
    env, client, computed = served
    source = env.metadata.get_execution(computed.execution_id)
    expected = (
        f"These Data Docs were computed by run {DAG}/{COMPUTING} (execution "
        f"#{source.id}, {source.finished_at:%Y-%m-%d %H:%M:%S} UTC); this run reused them "
        "from the cache."
    )
    stored = _stored_docs(env, computed)
    pages = [p for p in stored if p.endswith(".html")]
    assert "index.html" in pages and any(p.startswith("validations/") for p in pages)
    for path, content in stored.items():
        response = client.get(_url(REUSING, path))
        assert response.status_code == 200, path
        assert response.headers["content-security-policy"] == "sandbox"
        if path not in pages:
            assert response.content == content, path  # the stylesheet, as stored
            continue
        banner = FirstInBody(response.text)
        assert banner.first[0] == "div" and " ".join(banner.text.split()) == expected, path
        assert [tag for tag, _ in banner.inner] == ["a"], path  # the run id's <i> is text
        inserted = _inserted(response.content, content)
        assert FirstInBody(f"<body>{inserted.decode()}").text == banner.text, path
        # The link leads to the page of the run that computed them.
        link = urljoin(f"http://testserver{_url(REUSING, path)}", banner.inner[0][1]["href"])
        assert unquote(urlsplit(link).path) == f"/runs/{DAG}/{COMPUTING}", path
        assert client.get(link).status_code == 200


def _inserted(served: bytes, stored: bytes) -> bytes:
    """What was inserted into ``stored`` to serve it: the page is otherwise as stored."""
    pairs = enumerate(zip(served, stored, strict=False))
    same = next((i for i, (a, b) in pairs if a != b), len(stored))
    grown = len(served) - len(stored)
    assert grown > 0 and served[same + grown :] == stored[same:]
    return served[same : same + grown]


def test_a_computed_validation_serves_its_docs_as_stored(served):
    env, client, computed = served
    for path, content in _stored_docs(env, computed).items():
        response = client.get(_url(COMPUTING, path))
        assert response.status_code == 200 and response.content == content, path
        assert b"These Data Docs were computed by run" not in response.content
