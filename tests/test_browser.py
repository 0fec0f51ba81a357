"""The HTML report in a real browser (headless Chromium driven by selenium): it loads without
console errors or network requests, every figure is displayed, and a screenshot is not blank.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) and selenium
(the test extra). Without them the test is skipped locally, with the reason, but FAILS under
CI (``CI=true``): a report that was never opened in a browser must not pass as tested.
"""
import io
import json
import os
import shutil

import pytest
import yaml
from click.testing import CliRunner

from simcore.cli.main import main
from plan_factory import two_market_plan

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)
DRIVER = shutil.which("chromedriver")


def _missing() -> str:
    why = []
    if CHROMIUM is None:
        why.append("chromium")
    if DRIVER is None:
        why.append("chromedriver (Debian: chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        why.append("selenium (the test extra)")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        why.append("matplotlib (the plot extra)")
    return ", ".join(why)


def _need_browser():
    why = _missing()
    if why:
        msg = f"the browser test needs {why}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg + " (CI=true: install them, as .ci/run does)")
        pytest.skip(msg)


PLAN = two_market_plan(name="browser test")


@pytest.fixture(scope="module")
def driver():
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1100,1400", "--hide-scrollbars"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    drv = webdriver.Chrome(options=opts, service=Service(DRIVER))
    try:
        yield drv
    finally:
        drv.quit()


def _report(tmp_path, cmd, *extra):
    f = tmp_path / "plan.yaml"
    f.write_text(yaml.safe_dump(PLAN, sort_keys=False))
    rep = tmp_path / f"{cmd}.html"
    r = CliRunner().invoke(main, [cmd, str(f), "--paths", "1024", "--report", str(rep),
                                  *extra])
    assert r.exit_code == 0, r.output
    return rep


def _not_blank(png: bytes) -> None:
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.image as mpimg
    img = mpimg.imread(io.BytesIO(png), format="png")
    flat = img.reshape(-1, img.shape[-1])
    assert len({tuple(px) for px in flat[:: max(1, len(flat) // 20000)].tolist()}) > 10, \
        "the screenshot is (nearly) one colour"


@pytest.mark.parametrize("cmd, extra", [("run", ()), ("stress", ("--spike", "1"))])
def test_report_in_headless_chromium(driver, tmp_path, cmd, extra):
    rep = _report(tmp_path, cmd, *extra)
    driver.get_log("browser")
    driver.get_log("performance")               # start clean
    driver.get(rep.resolve().as_uri())
    assert driver.execute_script("return document.readyState") == "complete"
    assert "simrisk" in driver.title
    imgs = driver.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, "
        "i.naturalHeight, i.getBoundingClientRect().width])")
    assert imgs, "no figure in the page"
    for complete, nw, nh, shown in imgs:
        assert complete and nw > 0 and nh > 0 and shown > 0, imgs
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert not errors, errors
    requests = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            url = msg["params"]["request"]["url"]
            if not url.startswith(("file:", "data:")):
                requests.append(url)
    assert not requests, requests
    _not_blank(driver.get_screenshot_as_png())
