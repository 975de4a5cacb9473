"""Reading the pages' HTML in tests the way a person reads them: tables as rows of cell
text, links as (text, href) pairs. Built on the standard library's HTML parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Table:
    """Rows of cell text; a cell spanning rows (``rowspan``) is repeated in each of them."""

    rows: list[list[str]] = field(default_factory=list)
    pending: dict[int, list] = field(default_factory=dict)  # column -> [rows left, text]

    def start_row(self) -> None:
        self.end_row()
        self.rows.append([])

    def add_cell(self, text: str, rowspan: int) -> None:
        self._carry()
        if rowspan > 1:
            self.pending[len(self.rows[-1])] = [rowspan - 1, text]
        self.rows[-1].append(text)

    def end_row(self) -> None:
        if self.rows:
            self._carry()

    def _carry(self) -> None:
        """Cells of earlier rows that span into this row at its next column."""
        row = self.rows[-1]
        while len(row) in self.pending:
            span = self.pending[len(row)]
            if span[0] == 0:
                del self.pending[len(row)]
                break
            row.append(span[1])
            span[0] -= 1
            if span[0] == 0:
                del self.pending[len(row) - 1]

    @property
    def header(self) -> list[str]:
        return self.rows[0] if self.rows else []

    def text(self) -> str:
        return " ".join(" ".join(row) for row in self.rows)

    def column(self, name: str) -> list[str]:
        index = self.header.index(name)
        return [r[index] for r in self.rows[1:] if len(r) > index]


class Page(HTMLParser):
    """Tables, links and headings of one HTML document."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tables: list[Table] = []
        self.links: list[tuple[str, str]] = []
        self.headings: list[str] = []
        self.svgs = 0
        self._open: list[Table] = []
        self._cell: list[str] | None = None
        self._rowspan = 1
        self._link: tuple[str, list[str]] | None = None
        self._heading: list[str] | None = None
        self.text_parts: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "table":
            self._open.append(Table())
        elif tag == "tr" and self._open:
            self._open[-1].start_row()
        elif tag in ("td", "th") and self._open:
            self._cell = []
            self._rowspan = int(attributes.get("rowspan") or 1)
        elif tag == "a":
            self._link = (attributes.get("href") or "", [])
        elif tag in ("h1", "h2", "h3"):
            self._heading = []
        elif tag == "svg":
            self.svgs += 1
        if tag in ("br", "div", "p") and self._cell is not None:
            self._cell.append(" ")  # a line break inside a cell separates words

    def handle_endtag(self, tag):
        if tag == "table" and self._open:
            self._open[-1].end_row()
            self.tables.append(self._open.pop())
        elif tag in ("td", "th") and self._open and self._cell is not None:
            self._open[-1].add_cell(" ".join("".join(self._cell).split()), self._rowspan)
            self._cell = None
        elif tag == "a" and self._link:
            href, parts = self._link
            self.links.append((" ".join("".join(parts).split()), href))
            self._link = None
        elif tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append(" ".join("".join(self._heading).split()))
            self._heading = None

    def handle_data(self, data):
        for part in (self._cell, self._heading, self._link[1] if self._link else None):
            if part is not None:
                part.append(data)
        self.text_parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.text_parts).split())

    def table_with(self, heading: str) -> Table:
        """The first table whose header row contains ``heading``."""
        for table in self.tables:
            if heading in table.header:
                return table
        raise AssertionError(
            f"no table with a {heading!r} column; tables: {[t.header for t in self.tables]}"
        )

    def hrefs(self, text: str) -> list[str]:
        return [href for label, href in self.links if label == text]
