"""The report in a real browser: headless Chromium at 1300 px renders ``index.html`` with every figure
loaded, nothing wider than the window (a wide table scrolls inside itself), and a screenshot that is
a page, not a blank. Skipped, saying why, where Chromium is not installed (``.ci/run`` installs it)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import matplotlib.image
import numpy as np
import pytest

from rlsub.analysis.report import write_report

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium; "
                                                          ".ci/run installs it): the browser check of the report cannot run")
WIDTH = 1300
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--disable-dev-shm-usage"]

#: Runs once the page and its images have loaded; writes what it found into the DOM for --dump-dom.
CHECK = """<script>
window.addEventListener('load', () => {
  const W = document.documentElement.clientWidth, bad = [];
  if (document.documentElement.scrollWidth > W) bad.push('page is ' + document.documentElement.scrollWidth + ' px wide');
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('.scroll') && !el.classList.contains('scroll')) continue;  // scrolls inside its box
    const r = el.getBoundingClientRect();
    if (r.right > W + 1) bad.push(el.tagName + ' ends at ' + Math.round(r.right) + ' px');
  }
  const imgs = [...document.images].map(i => [i.getAttribute('src'), i.naturalWidth, i.getBoundingClientRect().width]);
  const h2 = [...document.querySelectorAll('h2')].map(h => h.textContent);
  const out = document.createElement('pre'); out.id = 'rlsub-check';
  out.textContent = JSON.stringify({width: W, bad, imgs, h2});
  document.body.appendChild(out);
});
</script>"""


def _chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--window-size={WIDTH},2400", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from report_store import demo_store

    tmp = tmp_path_factory.mktemp("browser")
    demo_store(tmp / "s")
    index = write_report([tmp / "s"], tmp / "rep", n_boot=200)
    return index


def test_report_renders_without_overflow_and_with_every_figure(report):
    page = report.with_name("check.html")
    page.write_text(report.read_text().replace("</body>", CHECK + "</body>"))
    proc = _chromium("--virtual-time-budget=10000", "--dump-dom", page.as_uri())
    found = re.search(r'<pre id="rlsub-check">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"the page did not finish loading in Chromium: {proc.stderr[-2000:]}"
    check = json.loads(found.group(1).replace("&quot;", '"').replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&"))
    assert check["width"] > 1200
    assert check["bad"] == [], check["bad"]  # nothing wider than the window
    figures = {src: (natural, shown) for src, natural, shown in check["imgs"]}
    assert set(figures) == {"learning_curves.png", "performance_vs_d.png", "dint_bars.png", "dint_vs_D.png"}
    for src, (natural, shown) in figures.items():
        assert natural > 0, f"{src} did not load"  # the file is there and decodes
        assert 0 < shown <= check["width"], src
    assert {"Summary", "Notes", "Comparisons", "Learning curves", "Performance against d"} <= set(check["h2"])


def test_report_screenshot_is_a_page(report):
    shot = report.with_name("shot.png")
    proc = _chromium(f"--screenshot={shot}", report.as_uri())
    assert shot.exists(), proc.stderr[-2000:]
    img = matplotlib.image.imread(shot)[..., :3]
    assert img.shape[1] == WIDTH
    ink = img.min(axis=2) < 0.6
    assert ink.mean() > 0.02  # text, table and figures drawn
    assert len(np.unique((img * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 200  # figures' colours, not just text
    rows = np.flatnonzero(ink.any(axis=1))
    assert rows.max() > 0.8 * img.shape[0]  # content runs down the page (the figures follow the tables)
    assert not ink[:, -8:].any()  # nothing drawn into the right edge: no content cut off at 1300 px
