"""Regenerate docs/figures/report_*.png: the report of a store with valid and invalid groups (the synthetic
store of tests/report_store.py), rendered by headless Chromium at 1300 px and cut at its section headings.

    python scripts/report_screenshots.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

WIDTH = 1300
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--disable-dev-shm-usage"]
PROBE = """<script>window.addEventListener('load', () => {
  const h = [...document.querySelectorAll('h2')].map(e => [e.textContent, e.getBoundingClientRect().top + scrollY]);
  const p = document.createElement('pre'); p.id = 'probe';
  p.textContent = JSON.stringify({height: document.documentElement.scrollHeight, h2: h});
  document.body.appendChild(p);
});</script>"""
#: Output name → (first heading, heading it stops before; None: the top of the page).
CUTS = {"report_summary.png": (None, "Learning curves"),
        "report_curves.png": ("Learning curves", "Performance against d"),
        "report_performance.png": ("Performance against d", "d_int90 by experiment")}


def main() -> None:
    import matplotlib.image
    from report_store import demo_store

    from rlsub.analysis.report import write_report

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--keep", help="write the store and report here instead of a temporary folder")
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("needs Chromium (Debian: apt-get install chromium)")
    work = Path(args.keep or tempfile.mkdtemp()).resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.chdir(work)  # the report names its sources as given: "store", not a temporary path
    demo_store("store")
    index = write_report(["store"], "report", n_boot=1000).resolve()
    probe = index.with_name("probe.html")
    probe.write_text(index.read_text().replace("</body>", PROBE + "</body>"))
    dom = subprocess.run([chromium, *FLAGS, f"--window-size={WIDTH},2000", "--virtual-time-budget=10000", "--dump-dom",
                          probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    info = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S).group(1).replace("&quot;", '"'))
    shot = work / "page.png"
    subprocess.run([chromium, *FLAGS, f"--window-size={WIDTH},{int(info['height'])}", f"--screenshot={shot}",
                    index.as_uri()], capture_output=True, timeout=120, check=True)
    page = matplotlib.image.imread(shot)
    tops = {name: int(y) for name, y in info["h2"]}
    for name, (start, stop) in CUTS.items():
        a = 0 if start is None else max(0, tops[start] - 10)
        out = ROOT / "docs" / "figures" / name
        matplotlib.image.imsave(out, page[a:tops[stop] - 10])
        print(f"{out.relative_to(ROOT)}: {page[a:tops[stop] - 10].shape[1]} x {tops[stop] - 10 - a} px")


if __name__ == "__main__":
    main()
