"""The Great Expectations Data Docs of a DAG run, as the /mlrail pages serve them.

The stored docs already load nothing from outside their folder (mlrail.data.expectations
rewrites them when the validation writes them). Serving adds one thing: when the run's
validation was a cache hit, the docs are those of the run that computed them, and every
HTML page says so in a banner at the top of its body. Other files are served as stored.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import HTTPException

if TYPE_CHECKING:
    from mlrail.store.metadata import Execution
    from mlrail.store.runner import Env

BANNER_STYLE = (
    "margin:0;padding:.6rem 1.5rem;background:#ddf4ff;border-bottom:1px solid #54aeff;"
    "color:#1f2328;font:14px/1.45 system-ui,sans-serif"
)


def data_docs_file(environment: Env, dag_run: str, relative: PurePosixPath) -> bytes:
    """One file of the Data Docs in the anomalies artifact of the run's last validation;
    an HTML page of docs reused from the cache carries the banner naming the run that
    computed them."""
    from mlrail.store.artifacts import UncommittedArtifactError

    validations = [
        e
        for e in environment.metadata.executions_in_context("dag_run", dag_run)
        if e.component == "validate" and e.state in ("complete", "cached")
    ]
    if not validations:
        raise HTTPException(404, f"no completed validation in {dag_run}")
    validation = validations[-1]
    anomalies = environment.metadata.io_of(validation.id, "output").get("anomalies")
    if anomalies is None:
        raise HTTPException(404, f"the validation of {dag_run} stored no Data Docs")
    try:
        files = environment.artifacts.commit_info(anomalies.uri).files
    except UncommittedArtifactError:
        raise HTTPException(
            404, f"the Data Docs of {dag_run} are gone (their artifact was deleted)"
        ) from None
    target = f"gx_docs/{relative}"
    if target not in files:
        raise HTTPException(404, f"{relative} is not in the Data Docs of {dag_run}")
    content = environment.artifacts.fs.cat_file(f"{anomalies.uri}/{target}")
    if validation.cached_from is None or relative.suffix.lower() not in (".html", ".htm"):
        return content
    source = environment.metadata.get_execution(validation.cached_from)
    # From gx-docs/<relative> up to runs/: the page's folders, gx-docs, the run, the DAG.
    to_runs = "../" * (len(relative.parts) - 1 + 3)
    return with_banner(content, cache_banner(source, to_runs))


def cache_banner(source: Execution, to_runs: str) -> str:
    """The notice that these docs are ``source``'s, linking that run's page (``to_runs``
    leads from the page to the ``runs/`` folder of the URLs)."""
    dag_id = source.dag_id or source.pipeline or ""  # runs outside Airflow: the pipeline
    when = source.finished_at or source.started_at
    link = f"{to_runs}{quote(dag_id, safe='')}/{quote(source.run_id or '', safe='')}"
    return (
        f'<div class="notice cached" role="note" style="{BANNER_STYLE}">These Data Docs '
        f'were computed by run <a href="{html.escape(link)}">'
        f"{html.escape(f'{dag_id}/{source.run_id}')}</a> (execution #{source.id}, "
        f"{when:%Y-%m-%d %H:%M:%S} UTC); this run reused them from the cache.</div>"
    )


class _BodyStart(HTMLParser):
    """Finds where the first ``<body>`` start tag ends (not one in a comment or script)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.found: tuple[int, int, int] | None = None  # line, column, length of the tag

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "body" and self.found is None:
            self.found = (*self.getpos(), len(self.get_starttag_text() or ""))


def with_banner(page: bytes, banner: str) -> bytes:
    """``page`` with ``banner`` (trusted HTML) first in its body; bytes that are not
    UTF-8 are kept as they were."""
    text = page.decode("utf-8", "surrogateescape")
    finder = _BodyStart()
    finder.feed(text)
    finder.close()
    at = 0
    if finder.found is not None:
        line, column, length = finder.found
        lines = text.split("\n")  # the parser counts lines at "\n"
        at = sum(len(lines[i]) + 1 for i in range(line - 1)) + column + length
    return (text[:at] + banner + text[at:]).encode("utf-8", "surrogateescape")
