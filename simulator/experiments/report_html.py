"""`python -m simulator.report ... --html`: `report.html`, one self-contained page.

The page is `report.md` turned into HTML (the markdown the report writes: headings,
paragraphs, lists, pipe tables, figures, `code` and **bold**; nothing else is needed),
with every figure embedded as a base64 PNG and every table sortable by a click on its
header (numbers by value, `0.9487 ± 0.1494` by its mean; a few lines of inline script).
Nothing is fetched: no CDN, no font, no file beside it, so it can be mailed or attached
to a ticket as it is.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

__all__ = ["html_page"]

#: Sorting a table: click a header; again for the other direction. A cell sorts by its
#: leading number (thousands separators, a sign and a % allowed) when every non-empty
#: cell of the column has one, else as text.
SORT_SCRIPT = """
(function () {
  function key(text) {
    var m = text.replace(/,/g, "").match(/^\\s*([+\\-\\u2212]?\\d*\\.?\\d+(?:e[+\\-]?\\d+)?)/i);
    return m ? parseFloat(m[1].replace("\\u2212", "-")) : null;
  }
  function sortBy(table, column, th) {
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var cells = rows.map(function (r) { return r.cells[column].textContent.trim(); });
    var numeric = cells.every(function (c) { return c === "" || c === "n/a" || key(c) !== null; });
    var order = rows.map(function (r, i) { return i; });
    order.sort(function (a, b) {
      var x = cells[a], y = cells[b], d;
      if (numeric) {
        x = key(x); y = key(y);
        if (x === null || y === null) { d = (x === null) - (y === null); return d; }
        d = x - y;
      } else {
        d = x.localeCompare(y);
      }
      return (ascending ? d : -d) || a - b;
    });
    order.forEach(function (i) { body.appendChild(rows[i]); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) {
      h.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (t) {
    Array.prototype.forEach.call(t.tHead.rows[0].cells, function (th, column) {
      th.addEventListener("click", function () { sortBy(t, column, th); });
      th.title = "sort";
    });
  });
})();
"""

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; }
code { background: #f3f3f3; padding: 0 .2em; border-radius: 3px; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; }
th { background: #f3f3f3; cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " \\25B2"; }
th[aria-sort=descending]::after { content: " \\25BC"; }
td { font-variant-numeric: tabular-nums; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-style: italic; }
"""

_FIGURE = re.compile(r"^!\[(?P<caption>[^\]]*)\]\((?P<src>[^)\s]+)\)$")


def html_page(markdown: str, figures_dir: Path, title: str = "trainsim report") -> str:
    """The HTML page of `markdown` (report.md's text), its figures read from
    `figures_dir` and embedded. Raises FileNotFoundError for a figure that is missing."""
    body: list[str] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
            i += 1
        elif line.startswith("|"):
            block, i = _take(lines, i, lambda t: t.startswith("|"))
            body.append(_table(block))
        elif line.startswith("- "):
            block, i = _take(lines, i, lambda t: t.startswith("- "))
            body.append("<ul>" + "".join(f"<li>{_inline(t[2:])}</li>" for t in block)
                        + "</ul>")
        elif _FIGURE.match(line.strip()):
            body.append(_figure(_FIGURE.match(line.strip()), figures_dir))
            i += 1
        else:
            block, i = _take(lines, i, lambda t: bool(t.strip()) and not t.startswith(
                ("#", "|", "- ")) and not _FIGURE.match(t.strip()))
            body.append(f"<p>{_inline(' '.join(t.strip() for t in block))}</p>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            + "\n".join(body)
            + f"\n<script>{SORT_SCRIPT}</script>\n</body>\n</html>\n")


def _take(lines: list[str], i: int, keep) -> tuple[list[str], int]:
    """The run of lines from `i` that `keep` accepts, and the index after it."""
    j = i
    while j < len(lines) and keep(lines[j]):
        j += 1
    return lines[i:j], j


def _cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip().strip("|").split("|")]


def _table(rows: list[str]) -> str:
    header, body = _cells(rows[0]), [_cells(r) for r in rows[2:]]
    head = "".join(f"<th scope=\"col\">{_inline(c)}</th>" for c in header)
    cells = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>"
                    for row in body)
    return (f"<table class=\"sortable\"><thead><tr>{head}</tr></thead>"
            f"<tbody>{cells}</tbody></table>")


def _figure(match: re.Match, figures_dir: Path) -> str:
    data = base64.b64encode((figures_dir / match["src"]).read_bytes()).decode("ascii")
    caption = _inline(match["caption"])
    return (f"<figure><img src=\"data:image/png;base64,{data}\" "
            f"alt=\"{html.escape(match['caption'])}\" "
            f"data-file=\"{html.escape(match['src'])}\">"
            f"<figcaption>{caption}</figcaption></figure>")


def _inline(text: str) -> str:
    """Escape `text`, then `code` and **bold**."""
    parts = text.split("`")
    out = []
    for n, part in enumerate(parts):
        if n % 2 and n < len(parts) - 1:  # inside backticks
            out.append(f"<code>{html.escape(part)}</code>")
        else:
            escaped = html.escape(part if n % 2 == 0 else "`" + part)
            out.append(re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped))
    return "".join(out)
