"""`python -m simulator.report <sweep> --html`: one self-contained report.html, checked
as files (nothing fetched, every figure embedded byte for byte) and in a real headless
browser (Debian's chromium): the page loads without console messages, every figure is
decoded and shown (naturalWidth > 0), and a click on a header sorts its table.

The browser is run as `chromium --headless --dump-dom`: the DOM after the load event
goes to stdout and, with `--enable-logging=stderr --v=0`, every console message and
uncaught error of the page goes to stderr as a `CONSOLE` line (chromium logs them all at
INFO level, so the test allows none). A checker script put first in a copy of the page
also records uncaught errors, failed resources and console.error calls, looks at every
image once the page has loaded, clicks a header, and writes what it saw into the DOM as
JSON. Without a browser the browser tests skip, saying how to install one, except in CI
(`CI=true`, set by .ci/run, which installs chromium), where they fail.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.clirun import cli_env, describe, run_cli

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
BROWSER_TIMEOUT_S = 120
MARKER = re.compile(r'<pre id="trainsim-check">(.*?)</pre>', re.S)

#: Put first in <head> of a copy of the page: records errors from the start, checks
#: the images after load, sorts the results table by goodput (twice).
CHECKER = """<script>
(function () {
  var seen = {errors: []};
  window.addEventListener("error", function (e) {
    var what = e.target && (e.target.src || e.target.href);
    seen.errors.push(e.message || ("failed to load " + what));
  }, true);
  var original = console.error;
  console.error = function () {
    seen.errors.push(Array.prototype.join.call(arguments, " "));
    return original.apply(console, arguments);
  };
  function column(table, index) {
    return Array.prototype.map.call(table.tBodies[0].rows, function (r) {
      return r.cells[index].textContent.trim();
    });
  }
  window.addEventListener("load", function () {
    seen.images = Array.prototype.map.call(document.images, function (img) {
      return {file: img.getAttribute("data-file"), complete: img.complete,
              width: img.naturalWidth, height: img.naturalHeight,
              shown: img.getBoundingClientRect().width};
    });
    var table = Array.prototype.find.call(document.querySelectorAll("table.sortable"),
      function (t) { return t.tHead.textContent.indexOf("goodput") >= 0
                            && t.tHead.textContent.indexOf("failures") >= 0; });
    if (table) {
      var headers = Array.prototype.map.call(table.tHead.rows[0].cells,
                                             function (h) { return h.textContent; });
      var index = headers.indexOf("goodput");
      seen.before = column(table, index);
      table.tHead.rows[0].cells[index].click();
      seen.ascending = column(table, index);
      table.tHead.rows[0].cells[index].click();
      seen.descending = column(table, index);
    }
    var out = document.createElement("pre");
    out.id = "trainsim-check";
    out.textContent = JSON.stringify(seen);
    document.body.appendChild(out);
  });
})();
</script>"""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def browser() -> str:
    """The headless browser's executable; skipped (failed in CI) without one."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    reason = (f"no headless browser ({', '.join(BROWSERS)}) on PATH: the HTML report's "
              "browser test needs one (Debian/Ubuntu: apt-get install -y chromium; "
              ".ci/run installs it)")
    if in_ci():
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    """A small real sweep (2 policies, 2 replicates, power series, timelines) and its
    HTML report."""
    root = tmp_path_factory.mktemp("html")
    sweep = root / "sweep"
    proc = run_cli(["-m", "name=html_test", f"hydra.sweep.dir={sweep}",
                    "checkpoint=fixed,async", "cluster.gpus=256", "horizon_days=10",
                    "replicates=2", "power.series=true", "events=true", "timeline=true"],
                   root)
    assert proc.returncode == 0, describe(proc)
    report = subprocess.run([sys.executable, "-m", "simulator.report", str(sweep), "--html"],
                            cwd=root, env=cli_env(), capture_output=True, text=True,
                            timeout=300, check=False)
    assert report.returncode == 0, report.stderr[-3000:]
    return sweep / "report"


def figures_of(markdown: str) -> list[str]:
    return re.findall(r"^!\[[^\]]*\]\(([^)]+)\)$", markdown, re.M)


def test_the_page_is_self_contained_with_every_figure_embedded(report_dir):
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    markdown = (report_dir / "report.md").read_text(encoding="utf-8")
    figures = figures_of(markdown)
    assert len(figures) >= 4 and {"power.png", "timeline.png"} <= set(figures)
    # the first job's story, as the run drew it
    assert (report_dir / "timeline.png").read_bytes() == \
        (report_dir.parent / "0" / "timeline.png").read_bytes()
    for name in figures:
        embedded = re.search(rf'src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="[^"]*" '
                             rf'data-file="{re.escape(name)}"', page)
        assert embedded, name
        assert base64.b64decode(embedded[1]) == (report_dir / name).read_bytes()
    # nothing fetched: no external URL, stylesheet link, import or url() reference
    for pattern in (r'(?:src|href)="(?!data:)', r"<link\b", r"@import", r"url\(",
                    r"https?://"):
        assert not re.search(pattern, page), pattern
    tables = sum(line.startswith("|---") for line in markdown.splitlines())
    assert page.count('<table class="sortable">') == tables > 0
    assert page.count("<img ") == len(figures)


def run_browser(browser: str, page: Path, profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [browser, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
         f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S, check=False)


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def test_the_page_loads_in_a_browser_without_console_messages(browser, report_dir, tmp_path):
    proc = run_browser(browser, report_dir / "report.html", tmp_path / "profile")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert console_lines(proc.stderr) == []
    figures = figures_of((report_dir / "report.md").read_text(encoding="utf-8"))
    assert proc.stdout.count("<img ") == len(figures)  # the DOM the browser built


def test_every_figure_is_shown_and_tables_sort(browser, report_dir, tmp_path):
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    checked = tmp_path / "checked.html"
    checked.write_text(page.replace("<head>", "<head>" + CHECKER, 1), encoding="utf-8")
    proc = run_browser(browser, checked, tmp_path / "profile")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert console_lines(proc.stderr) == []
    found = MARKER.search(proc.stdout)
    assert found, "the checker wrote nothing: the page did not load\n" + proc.stderr[-3000:]
    seen = json.loads(found[1].replace("&quot;", '"').replace("&amp;", "&")
                      .replace("&lt;", "<").replace("&gt;", ">"))
    assert seen["errors"] == []
    figures = figures_of((report_dir / "report.md").read_text(encoding="utf-8"))
    assert [i["file"] for i in seen["images"]] == figures
    for image in seen["images"]:
        assert image["complete"] and image["width"] > 0 and image["height"] > 0, image
        assert image["shown"] > 0, image  # laid out on the page, not hidden
    means = [[float(cell.split("±")[0]) for cell in seen[k]] for k in ("ascending",
                                                                     "descending")]
    assert len(means[0]) == 2  # two configurations
    assert means[0] == sorted(means[0]) and means[1] == sorted(means[1], reverse=True)
    assert sorted(seen["before"]) == sorted(seen["ascending"])


def test_markdown_text_is_escaped_and_every_block_converted(tmp_path):
    from simulator.experiments.report_html import html_page
    (tmp_path / "f.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    text = ("# Sweep <x>\n\nA `a<b>` and **bold** & more\nsame paragraph.\n\n"
            "| k | v |\n|---|---|\n| <script>alert(1)</script> | 1,234 ± 5 |\n\n"
            "- one `x`\n- two\n\n![cap <i>](f.png)\n")
    page = html_page(text, tmp_path)
    assert "<h1>Sweep &lt;x&gt;</h1>" in page
    assert ("<p>A <code>a&lt;b&gt;</code> and <strong>bold</strong> &amp; more same "
            "paragraph.</p>") in page
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td><td>1,234 ± 5</td>" in page
    assert "<ul><li>one <code>x</code></li><li>two</li></ul>" in page
    assert 'alt="cap &lt;i&gt;"' in page and "<figcaption>cap &lt;i&gt;</figcaption>" in page
    assert page.count("<script>") == 1  # only the sorting script
