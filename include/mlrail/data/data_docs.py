"""Great Expectations Data Docs that load nothing from outside their own folder.

GX's pages load Bootstrap, jQuery, Vega and Font Awesome from CDNs, the logo from S3, and
fill the index's tables from a script. The plugin serves them with a CSP sandbox, so no
script would run even online; and column names reach the pages unescaped (GX puts them in
headings as markup). So every page is parsed and written back from an allowlist: text
escaped, known tags with known attributes, no script, style, link or form, no URL that
leaves the docs folder. A script or style inside text (a column named "<script>...") is
shown as the text it was. The pages link GX_STYLESHEET (written into the docs) and the
plugin's stylesheet instead. Done when written (mlrail.data.expectations calls
``write_offline_docs``), so the artifact reads the same wherever it is opened: from the
plugin, a downloaded copy, a bucket browser.
"""

from __future__ import annotations

import html
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

GX_STYLESHEET = "static/mlrail-gx.css"
HOUSE_STYLESHEET = "/mlrail/static/mlrail.css"  # served by the plugin; absent elsewhere

_KEPT = frozenset(
    "html head body title meta div span p a img ul ol li nav h1 h2 h3 h4 h5 h6 table thead "
    "tbody tfoot tr th td caption colgroup col strong em b i u s small code pre br hr "
    "blockquote dl dt dd section header footer main article aside sub sup abbr button "
    "label input details summary figure figcaption".split()
)
_VOID = frozenset("br col hr img input meta".split())
_RAW = frozenset({"script", "style"})
_TEXT_LEVEL = frozenset(
    "a span p li td th h1 h2 h3 h4 h5 h6 strong em b i small code label title dt dd "
    "caption button summary".split()
)
_ATTRIBUTES = frozenset(
    "class id title alt role colspan rowspan scope hidden width height type checked".split()
)
_URL_ATTRIBUTES = {"a": "href", "img": "src"}
_SAFE_STYLE = re.compile(r"[-\w\s:;.,%#!]*")  # no url(), image-set("..."), escapes
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")


def is_local(url: str) -> bool:
    """Whether a browser resolves ``url`` (relative or a fragment) inside this server: no
    scheme, no ``//host``. Browsers drop tabs and newlines in URLs and read ``\\`` as
    ``/``, so those are judged as a browser reads them."""
    cleaned = re.sub(r"[\x00-\x20]", "", url)
    return not (cleaned.startswith("//") or "\\" in cleaned or _SCHEME.match(cleaned))


def _attributes(tag: str, attrs: list[tuple[str, str | None]]) -> str:
    kept: dict[str, str | None] = {}
    for name, value in attrs:
        if name in kept:
            continue
        allowed = name in _ATTRIBUTES or name.startswith(("aria-", "data-"))
        if name == "style":
            allowed = value is not None and _SAFE_STYLE.fullmatch(value) is not None
        elif name == _URL_ATTRIBUTES.get(tag):
            allowed = value is not None and is_local(value)
        if allowed:
            kept[name] = value
    return "".join(
        f" {name}" if value is None else f' {name}="{html.escape(value)}"'
        for name, value in kept.items()
    )


def _meta(attrs: list[tuple[str, str | None]]) -> str:
    values = dict(attrs)
    if values.get("charset"):
        return '<meta charset="utf-8">'
    if values.get("name") == "viewport":
        return '<meta name="viewport" content="width=device-width, initial-scale=1.0">'
    return ""  # http-equiv (a refresh to elsewhere) and the rest


class _OfflinePage(HTMLParser):
    def __init__(self, head: str, fill: dict[str, str]):
        super().__init__(convert_charrefs=True)
        self.head, self.fill = head, dict(fill)
        self.out: list[str] = []
        self.open: list[str] = []  # kept elements not yet closed
        self.raw: tuple[str, bool] | None = None  # inside a script/style: (tag, shown)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.raw is not None:
            return
        if tag in _RAW:
            shown = bool(self.open) and self.open[-1] in _TEXT_LEVEL
            self.raw = tag, shown
            if shown:
                self.out.append(html.escape(self.get_starttag_text() or f"<{tag}>"))
            return
        if tag == "meta":
            self.out.append(_meta(attrs))
            return
        if tag not in _KEPT:
            return
        if tag == "img" and not is_local(dict(attrs).get("src") or ""):
            self.out.append(html.escape(dict(attrs).get("alt") or ""))  # GX's logo, on S3
            return
        self.out.append(f"<{tag}{_attributes(tag, attrs)}>")
        if tag not in _VOID:
            self.open.append(tag)
        if tag == "head":
            self.out.append(self.head)
        for marker in set((dict(attrs).get("class") or "").split()) & set(self.fill):
            self.out.append(self.fill.pop(marker))

    def handle_endtag(self, tag: str) -> None:
        if self.raw is not None:
            if tag == self.raw[0]:
                if self.raw[1]:
                    self.out.append(html.escape(f"</{tag}>"))
                self.raw = None
            return
        if tag in self.open:  # closes what it encloses, as a browser does
            while self.open.pop() != tag:
                pass
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if self.raw is None or self.raw[1]:
            self.out.append(html.escape(data, quote=False))

    def handle_decl(self, decl: str) -> None:
        if decl.lower() == "doctype html":
            self.out.append("<!DOCTYPE html>")


def offline_page(page: str, depth: int, fill: dict[str, str] | None = None) -> str:
    """``page`` (a GX Data Docs page ``depth`` folders below the docs folder) written back
    from an allowlist, linking the local stylesheets; the elements whose class is a key
    of ``fill`` get its trusted HTML as their first content."""
    sheets = [HOUSE_STYLESHEET, "../" * depth + GX_STYLESHEET]
    head = "".join(f'<link rel="stylesheet" href="{html.escape(s)}">' for s in sheets)
    parser = _OfflinePage(head, fill or {})
    parser.feed(page)
    parser.close()
    return "".join(parser.out)


def write_offline_docs(docs_dir: Path, index_fill: dict[str, str]) -> None:
    """Rewrite every page under ``docs_dir`` with ``offline_page``; replace GX's static
    folder (images, fonts and CSS templates nothing links any more) with GX_STYLESHEET."""
    for path in docs_dir.rglob("*.html"):
        relative = path.relative_to(docs_dir)
        fill = index_fill if relative.as_posix() == "index.html" else {}
        page = offline_page(path.read_text("utf-8"), len(relative.parts) - 1, fill)
        path.write_text(page, "utf-8")
    shutil.rmtree(docs_dir / "static", ignore_errors=True)
    (docs_dir / GX_STYLESHEET).parent.mkdir(parents=True, exist_ok=True)
    (docs_dir / GX_STYLESHEET).write_text(_GX_CSS, "utf-8")


# What Bootstrap and Font Awesome gave GX's markup, in a few rules; the controls that only
# a script could work (filters, tabs, "Show more info") are hidden or left as anchors.
_GX_CSS = """\
/* mlrail: GX Data Docs without Bootstrap, Font Awesome or scripts. */
body { font: 14px/1.45 system-ui, sans-serif; color: #1f2328; margin: 0; }
a { color: #0969da; text-decoration: none; }
.navbar { display: flex; align-items: center; gap: 1rem; padding: .5rem 1.5rem;
  border-bottom: 1px solid #d1d9e0; height: auto !important; }
.navbar-brand a { font-weight: 600; }
.breadcrumb { display: flex; flex-wrap: wrap; list-style: none; margin: 0; padding: 0; }
.breadcrumb-item + .breadcrumb-item::before { content: "/"; margin: 0 .4rem; color: #8c959f; }
.container-fluid { padding: 1rem 1.5rem; }
.row { display: flex; flex-wrap: wrap; gap: 0 1.5rem; }
.col-12 { flex: 1 1 100%; }
.col-6 { flex: 1 1 40%; }
.col-md-2, .col-lg-2 { flex: 0 0 14rem; }
.col-md-10, .col-lg-10 { flex: 1 1 0; min-width: 0; }
.sticky { position: sticky; top: 1rem; }
.card { border: 1px solid #d1d9e0; border-radius: .4rem; margin-bottom: 1rem; }
.card-header { background: #f6f8fa; padding: .4rem .6rem; }
.nav, .nav-tabs { list-style: none; padding: 0; margin: 0 0 .5rem; }
.nav-tabs { display: flex; gap: 1.5rem; border-bottom: 1px solid #d1d9e0; }
.alert-secondary { background: #f6f8fa; border: 1px solid #d1d9e0; border-radius: .4rem;
  padding: .5rem .9rem; margin: 1rem 0 .5rem; }
h4, h5, h6, .h6 { margin: .25rem 0; font-weight: 600; }
h4 { font-size: 1.1rem; } h5 { font-size: 1rem; } h6, .h6 { font-size: .9rem; }
table { border-collapse: collapse; margin: .25rem 0 1rem; }
th, td { text-align: left; padding: .3rem .7rem; border-bottom: 1px solid #d1d9e0;
  vertical-align: top; }
th { background: #f6f8fa; }
.show-scrollbars { overflow: auto; }
td .show-scrollbars { max-height: 80vh; }
.text-success { color: #1a7f37; }
.text-danger { color: #cf222e; }
.text-warning { color: #9a6700; }
i.fas { font-style: normal; font-weight: 700; }
.fa-check-circle::before { content: "\\2714"; }
.fa-times::before { content: "\\2718"; }
.fa-exclamation-triangle::before { content: "\\26A0"; }
.fa-question-circle::before { content: "?"; }
.cooltip { position: relative; display: inline-block; }
.cooltip .top { display: none; position: absolute; z-index: 10; bottom: 100%; left: 0;
  min-width: 14rem; padding: .5rem .8rem; color: #fff; background: #222;
  border-radius: .4rem; white-space: pre-wrap; }
.cooltip:hover .top { display: block; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 1rem; font-weight: 600; }
.badge.pass { color: #1a7f37; background: #dafbe1; }
.badge.fail { color: #cf222e; background: #ffebe9; }
.btn, .card:has(.btn-group-toggle), footer { display: none; }
"""
