"""report.html as a person sees it: laid out by headless Chromium (skipped where none is installed;
scripts/setup.sh installs one where apt can).

Chromium lays out the real report of a shipped recording whose legs have long names
(cfg_max_num_batched_tokens-512): every plot's row label must lie inside its plot, and the delta
plot must shade the noise band its gate was judged against. A screenshot is kept for a person to
look at (REPORT_SHOT, default the test's tmp dir)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from geak.auditor.runpack import resolve_run
from geak.orchestrator.report import write_report

REPO = Path(__file__).resolve().parents[2]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROME = next((p for b in BROWSERS if (p := shutil.which(b))), None)
pytestmark = pytest.mark.skipif(
    CHROME is None, reason="no headless Chromium here (scripts/setup.sh installs one where apt can)"
)

# Runs in the page after layout: every row label against its plot's box, every band's width.
CHECK = """<script>
window.addEventListener('load', () => {
  const out = {cut: [], labels: 0, bands: []};
  for (const svg of document.querySelectorAll('svg.plot')) {
    const box = svg.getBoundingClientRect();
    for (const t of svg.querySelectorAll('text.lbl')) {
      out.labels += 1;
      const b = t.getBoundingClientRect();
      if (b.left < box.left - 0.5 || b.right > box.right + 0.5 || t.textContent.includes('\\u2026')) out.cut.push(t.textContent);
    }
    for (const r of svg.querySelectorAll('rect.band')) out.bands.push(r.getBoundingClientRect().width);
  }
  const pre = document.createElement('pre');
  pre.id = 'geak-check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _chrome(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROME, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("rep") / "run"
    shutil.copytree(resolve_run(REPO / "runs" / "recorded" / "tiny-cpu-run"), run)  # a config gate: its band is drawn
    write_report(run)
    return run / "report.html"


def test_every_plot_label_is_whole_and_the_noise_band_is_drawn(report, tmp_path):
    page = tmp_path / "check.html"
    page.write_text(report.read_text().replace("</body>", CHECK + "</body>"))
    dom = _chrome("--virtual-time-budget=5000", "--dump-dom", page.as_uri()).stdout
    assert 'id="geak-check"' in dom, dom[-2000:]
    got = json.loads(dom.split('id="geak-check">', 1)[1].split("</pre>", 1)[0].replace("&quot;", '"'))
    assert got["labels"] >= 10 and got["cut"] == [], got
    assert got["bands"] and all(w > 2 for w in got["bands"]), got


def test_a_screenshot_of_the_report_is_not_blank(report, tmp_path):
    from PIL import Image

    shot = Path(os.environ.get("REPORT_SHOT", tmp_path / "report.png"))
    _chrome(f"--screenshot={shot}", "--window-size=1280,3000", report.as_uri())
    img = Image.open(shot).convert("RGB")
    assert img.size == (1280, 3000)
    colours = img.resize((128, 300)).getcolors(maxcolors=100_000)
    assert colours is not None and len(colours) > 20  # text, plots and tables, not an empty page
