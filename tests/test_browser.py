"""report.html as a person sees it: headless Chromium (the Debian package `chromium`) loads the page
from disk with no network, every image must decode, the console must stay silent, and a screenshot
must show something. Skipped where Chromium is not installed.

The page's Content-Security-Policy forbids all scripts; the check adds one script, allowed by a nonce
(so a script smuggled in through label text would still be blocked and reported on the console),
that writes each image's decoded width into the DOM after the load event; `--dump-dom` returns it.
Console messages, uncaught errors and policy violations reach Chromium's stderr log as CONSOLE lines.
"""

import json
import re
import subprocess
from pathlib import Path

import pytest

from ereignis.evaluation.report import write_reports
from tests.evalfixture import HOSTILE_LABELS, make_run

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="headless Chromium not installed (apt-get install chromium)")

NONCE = "ereignis-browser-check"
CHECK = f"""<script nonce="{NONCE}">
window.addEventListener("load", function () {{
  var images = Array.prototype.map.call(document.images, function (image) {{
    return {{alt: image.alt, complete: image.complete, width: image.naturalWidth, height: image.naturalHeight}};
  }});
  var result = document.createElement("pre");
  result.id = "browser-check";
  result.textContent = JSON.stringify({{images: images, title: document.title}});
  document.body.appendChild(result);
}});
</script>"""


def chromium(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess:
    """One headless Chromium run, isolated (own profile) and kept off the network."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    return subprocess.run([str(CHROMIUM), *flags, *arguments], capture_output=True, text=True, timeout=120)


def load(page: Path, tmp_path: Path) -> tuple[dict, list[str]]:
    """The page's images as the browser decoded them, and every console line it logged."""
    checked = tmp_path / f"checked_{page.name}"
    text = page.read_text(encoding="utf-8")
    assert "default-src 'none'" in text
    checked.write_text(text.replace("default-src 'none';", f"default-src 'none'; script-src 'nonce-{NONCE}';", 1)
                       .replace("<head>", "<head>\n" + CHECK, 1), encoding="utf-8")
    done = chromium(tmp_path, "--dump-dom", checked.as_uri())
    found = re.search(r'<pre id="browser-check">(.*?)</pre>', done.stdout, flags=re.S)
    assert found, f"the check script did not run: {done.stderr[-2000:]}"
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&")), console


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("browser") / "run", labels=HOSTILE_LABELS,
                   external={"<img src=x onerror=alert(1)>": 30})
    return write_reports(run / "eval")["html"]


def test_every_image_loads_and_the_console_stays_silent(report, tmp_path):
    seen, console = load(report, tmp_path)
    assert seen["title"] == "Evaluation: fixture"
    assert len(seen["images"]) == report.read_text(encoding="utf-8").count("<img ") == 12
    for image in seen["images"]:
        assert image["complete"] and image["width"] > 100 and image["height"] > 100, image
    assert console == []  # no error, no blocked script or resource, nothing logged at all


def test_the_screenshot_shows_the_page(report, tmp_path):
    shot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2400", "--hide-scrollbars", report.as_uri())
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 50_000  # text, tables, figures


def test_the_check_itself_notices_a_broken_image_and_a_smuggled_script(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><head><meta http-equiv='Content-Security-Policy' content=\"default-src "
                    "'none'; img-src data:\"><title>broken</title></head><body>"
                    "<img src='data:image/png;base64,AAAA' alt='broken'><script>console.log('ran')</script>"
                    "</body></html>", encoding="utf-8")
    seen, console = load(page, tmp_path)
    assert seen["images"] == [{"alt": "broken", "complete": True, "width": 0, "height": 0}]
    assert any("Content Security Policy" in line for line in console) and not any("ran" in line for line in console)


@pytest.mark.slow
def test_the_report_of_a_real_run_loads_cleanly(tmp_path):
    """The same check on the report the evaluation stage writes for a tiny model trained on the corpus."""
    from ereignis.data import build_dataset
    from ereignis.evaluation import evaluate_run
    from ereignis.training import train
    from tests.conftest import compose_config

    dataset, run = tmp_path / "dataset", tmp_path / "run"
    build_dataset(compose_config("build_data", [f"data.output_dir={dataset}"]))
    train(compose_config("train", ["experiment=demo", "debug=fast", f"data.output_dir={dataset}", f"run_dir={run}"]))
    evaluate_run(compose_config("eval", [f"run_dir={run}", "eval.bootstrap.n_resamples=100"]))
    page = run / "eval" / "report.html"
    seen, console = load(page, tmp_path)
    assert len(seen["images"]) == page.read_text(encoding="utf-8").count("<img ") >= 6
    assert all(image["complete"] and image["width"] > 100 for image in seen["images"]) and console == []
