"""`bench report --format html`: the static site, checked as files (links, escaping, figures, numbers -> cells)
and in a real browser: headless Chromium driven by Selenium (skipped, saying why, where chromium, chromium-driver
or selenium are missing; .ci/run installs them). Screenshots of each page kind go to $BENCH_SITE_SCREENSHOTS
(default: a pytest temp folder) for a person to look at; they are not compared with anything."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from reports.build import build_report, write_report
from tests.report_stores import demo_store, make_small_demo, synthetic_store, using_cache

PAGE_KINDS = (
    "index.html",
    "methods.html",
    "datasets.html",
    "runtime.html",
    "efficiency.html",
    "methods/",
    "datasets/",
    "cells/",
)


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """{'demo': (out folder, report), 'synthetic': ...}: every format written, the site among them."""
    root = tmp_path_factory.mktemp("site")
    cache = make_small_demo(root / "cache")
    stores = {"demo": demo_store(root / "demo-runs", cache), "synthetic": synthetic_store(root / "syn-runs", cache)}
    out = {}
    with using_cache(cache):
        for kind, runs in stores.items():
            report = build_report(runs)
            write_report(report, root / f"{kind}-report", ["md", "latex", "csv", "html"])
            out[kind] = (root / f"{kind}-report", report)
    return out


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for name in ("href", "src"):
            if a.get(name):
                self.refs.append(a[name])


def _parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def test_every_link_resolves_inside_the_site(sites):
    for out, _ in sites.values():
        site = out / "site"
        pages = sorted(site.rglob("*.html"))
        assert len(pages) > 8
        parsed = {p: _parse(p) for p in pages}
        for page, links in parsed.items():
            for ref in links.refs:
                assert not re.match(r"^(https?:|//|ftp:)", ref), f"{page}: request outside the site: {ref}"
                if ref.startswith("data:"):
                    continue
                target, _, fragment = ref.partition("#")
                path = (page.parent / unquote(target)).resolve() if target else page
                assert path.is_file() and site.resolve() in path.parents, f"{page}: {ref} does not resolve"
                if fragment and path.suffix == ".html":
                    assert fragment in parsed[path].ids, f"{page}: {ref}: no element with that id"


def test_plotly_shipped_once_per_site(sites):
    from plotly.offline import get_plotlyjs

    for out, _ in sites.values():
        scripts = sorted(p.relative_to(out / "site").as_posix() for p in (out / "site").rglob("*.js"))
        assert scripts == ["assets/plotly.min.js", "assets/site.js"]
        assert (out / "site" / "assets" / "plotly.min.js").stat().st_size == len(get_plotlyjs().encode())
        assert max(p.stat().st_size for p in (out / "site").rglob("*.html")) < 1_000_000  # nothing inlined


def test_every_number_links_to_the_cells_behind_it(sites):
    out, report = sites["synthetic"]
    table = next(t for t in report.tables if t.id == "table1")
    index = (out / "site" / "index.html").read_text()
    checked = 0
    for gi, group in enumerate(table.groups):
        for ri, row in enumerate(group.rows):
            for ci, col in enumerate(table.columns):
                stat = row.cells[col.key]
                href = re.search(rf'href="(methods/[^"#]+)#(n-table1-[^"]*-{gi}-{ri}-{ci})"', index)
                assert href, f"{row.label} {col.key}: number without a link"
                page = (out / "site" / href.group(1)).read_text()
                article = page.split(f'id="{href.group(2)}"', 1)[1].split("</article>", 1)[0]
                listed = re.findall(r'href="\.\./cells/([0-9a-f]+)\.html"', article)
                assert sorted(listed) == sorted(stat.cells.values()) and len(listed) == stat.n
                checked += 1
    assert checked == 8  # 4 methods x PLCC, SRCC


def test_markup_is_escaped_in_every_format(sites):
    out, report = sites["synthetic"]
    for page in (out / "site").rglob("*"):
        assert not set("<>|&%#") & set(page.name), page  # file names are slugs, never the raw names
        if page.suffix == ".html":
            text = page.read_text()
            assert "<script>alert" not in text, page
    index = (out / "site" / "index.html").read_text()
    assert "#1 &lt;script&gt;alert(1)&lt;/script&gt;" in index and "R&amp;D_100%" in index and "a|b" in index
    md = (out / "report.md").read_text()
    assert "| a\\|b |" in md and "| #1 \\<script>alert(1)\\</script> |" in md and "| R&D\\_100% |" in md
    tex = (out / "report.tex").read_text()
    assert (
        r"R\&D\_100\%" in tex and r"\#1 \textless{}script\textgreater{}alert(1)\textless{}/script\textgreater{}" in tex
    )
    assert r"a\textbar{}b" in tex
    cell = next((out / "site" / "cells").glob("*.html")).read_text()
    figure = re.search(r'<script type="application/json" id="scatter-json">(.*?)</script>', cell, re.S)
    assert figure and "</" not in figure.group(1)  # JSON in a script tag cannot close it


def test_figures_are_valid_plotly_and_name_their_images(sites):
    import plotly.graph_objects as go

    out, report = sites["synthetic"]
    for r in report.results[:3]:
        page = (out / "site" / "cells" / f"{r.key}.html").read_text()
        figs = dict(re.findall(r'<script type="application/json" id="(\w+)-json">(.*?)</script>', page, re.S))
        assert set(figs) == {"scatter", "curves"}
        for fig in figs.values():
            go.Figure(json.loads(fig))  # plotly's own validation: raises on any unknown property
    for page in (out / "site").glob("*.html"):  # the runtime view's bars
        for fig in re.findall(
            r'<script type="application/json" id="[\w-]+-json">(.*?)</script>', page.read_text(), re.S
        ):
            go.Figure(json.loads(fig))
        scatter = json.loads(figs["scatter"])["data"][0]
        preds = (out / "site" / "cells" / f"{r.key}.preds.csv").read_text().splitlines()[1:]
        assert scatter["text"] == [line.split(",")[0] for line in preds] and len(scatter["x"]) == r.n_test


def test_method_and_dataset_pages(sites):
    out, _ = sites["synthetic"]
    dbcnn = next((out / "site" / "methods").glob("dbcnn-*.html")).read_text()
    assert "Deviations from the official code" in dbcnn and "model selection: best test SRCC epoch" in dbcnn
    curves = re.search(r'<script type="application/json" id="curves-0-json">(.*?)</script>', dbcnn, re.S)
    assert curves and {t["name"] for t in json.loads(curves.group(1))["data"]} == {"loss", "val_srcc"}  # medians
    script = next((out / "site" / "methods").glob("1-script-*.html")).read_text()
    assert "not a method registered in this harness" in script.lower()
    demo_out, _ = sites["demo"]
    demo_a = next((demo_out / "site" / "datasets").glob("demo-a-*.html")).read_text()
    assert "Synthetic and not human-rated" in demo_a and "Per-distortion demo-a" in demo_a
    # the ground truth the cells were scored against, as they record it (file, column, scale)
    assert "ground truth (as the cells record it)" in demo_a and "meta.csv &#39;score&#39;" in demo_a
    assert re.search(r"<td>intra</td><td>demo-a</td><td>default</td><td>–</td><td>6</td>", demo_a)
    efficiency = (out / "site" / "efficiency.html").read_text()
    assert "Efficiency (cpu)" in efficiency and "40.00" in efficiency  # the store's perf record, as a table
    nss = next((demo_out / "site" / "methods").glob("nss-svr-*.html")).read_text()
    assert "BRISQUE-style" in nss and "numpy" in nss  # description and the cells' package versions


def test_study_report_writes_the_site(sites, tmp_path):
    from bench.cli import main

    runs = sites["demo"][1].source
    with using_cache(Path(runs).parent / "cache"):
        rc = main(["study", "report", "mpiqe-paper", "--runs", runs, "--report-out", str(tmp_path), "--format", "html"])
    assert rc == 0
    assert (tmp_path / "site" / "index.html").is_file() and (tmp_path / "site" / "assets" / "plotly.min.js").is_file()


# --- in a real browser ---------------------------------------------------------------------------------------


def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip(
            "headless Chromium and its driver are not installed (Debian: apt-get install chromium chromium-driver)"
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install selenium: the test extra)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture(scope="module")
def browser():
    driver = _browser()
    yield driver
    driver.quit()


def _open(driver, page: Path) -> None:
    driver.get(page.as_uri())
    for _ in range(200):  # the page's own script has run and drawn its figures (assets/site.js says so)
        if driver.execute_script("return document.body && document.body.dataset.plotsReady === '1'"):
            return
        time.sleep(0.05)
    raise AssertionError(f"{page}: figures never drawn")


def _screenshot(driver, path: Path) -> None:
    """The whole page (up to 4,000 px tall), for a person to look at."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(height, 900), 4000))
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 900)


def _requests(driver) -> list[str]:
    out = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            out.append(message["params"]["request"]["url"])
    return out


def _pages(site: Path, kinds=PAGE_KINDS) -> dict[str, Path]:
    out = {}
    for kind in kinds:
        out[kind] = site / kind if kind.endswith(".html") else sorted((site / kind).glob("*.html"))[-1]
    return out


def test_pages_load_clean_and_stay_inside_the_site(sites, browser, tmp_path_factory):
    shots = Path(os.environ.get("BENCH_SITE_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    for name, (out, _) in sites.items():
        site = (out / "site").resolve()
        # every page kind of the synthetic store's site; the demo run's: the kinds that depend on the store
        for kind, page in _pages(
            site, PAGE_KINDS if name == "synthetic" else ("index.html", "methods/", "cells/")
        ).items():
            browser.get_log("browser"), browser.get_log("performance")  # drop what came before
            _open(browser, page)
            errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
            assert not errors, f"{page}: console errors {errors}"
            for url in _requests(browser):
                assert url.startswith("data:") or Path(unquote(urlparse(url).path)).resolve().is_relative_to(site), (
                    f"{page}: request outside the site folder: {url}"
                )
            for href in browser.execute_script("return Array.from(document.links, a => a.href)"):
                target = Path(unquote(urlparse(href).path))
                assert target.is_file() and target.resolve().is_relative_to(site), f"{page}: {href} does not resolve"
                fragment = urlparse(href).fragment
                if fragment:
                    assert f'id="{fragment}"' in target.read_text(), f"{page}: {href}: no such anchor"
            shot = kind.replace(".html", "") if kind.endswith(".html") else kind.strip("/").removesuffix("s") + "-page"
            _screenshot(browser, shots / f"{name}-{shot}.png")
    print(f"screenshots in {shots}")


def test_clicking_a_header_sorts_the_table(sites, browser):
    out, _ = sites["synthetic"]
    _open(browser, (out / "site" / "index.html").resolve())
    column = "return Array.from(document.querySelectorAll('#{t} tbody tr:not(.group)'), r => Number(r.children[{c}].dataset.sort))"
    anchor = re.search(
        r'<section class="table" id="(t-table1-[0-9a-f]+)"', (out / "site" / "index.html").read_text()
    ).group(1)
    header = browser.find_element("css selector", f"#{anchor}-table th[data-col='2']")
    header.click()
    up = browser.execute_script(column.format(t=f"{anchor}-table", c=2))
    assert up == sorted(up) and len(up) == 4 and header.get_attribute("aria-sort") == "ascending"
    header.click()
    down = browser.execute_script(column.format(t=f"{anchor}-table", c=2))
    assert down == sorted(up, reverse=True)


def test_cell_scatter_has_one_point_per_prediction(sites, browser):
    for out, report in sites.values():
        r = report.results[0]
        _open(browser, (out / "site" / "cells" / f"{r.key}.html").resolve())
        points = browser.execute_script("return document.querySelectorAll('#scatter .scatterlayer .point').length")
        rows = len((out / "site" / "cells" / f"{r.key}.preds.csv").read_text().splitlines()) - 1
        assert points == rows == r.n_test


def test_index_fits_a_phone_without_horizontal_scroll(sites, browser, tmp_path_factory):
    # a phone's viewport (a headless window cannot be made narrower than 500 px on every platform)
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 375, "height": 800, "deviceScaleFactor": 2, "mobile": True}
    )
    shots = Path(os.environ.get("BENCH_SITE_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    try:
        for name, (out, _) in sites.items():
            _open(browser, (out / "site" / "index.html").resolve())
            width, inner = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
            assert inner == 375 and width <= inner, f"page scrolls sideways at 375 px: {width} > {inner}"
            browser.save_screenshot(str(shots / f"{name}-index-phone.png"))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_same_images_marks_recomputed_from_the_predictions(sites):
    """Table 1's per-split tests on the same images, recomputed here from the .preds.csv files with scipy's
    correlations and Williams' t (checked by hand in test_reports_significance.py)."""
    import csv

    from scipy.stats import pearsonr, spearmanr

    from reports.image_test import williams_t

    out, report = sites["synthetic"]
    table = next(t for t in report.tables if t.id == "table1")
    preds = {}
    for r in report.results:
        with r.preds_path.open() as f:
            preds[r.key] = {row["id"]: (float(row["score"]), float(row["prediction"])) for row in csv.DictReader(f)}
    tested = 0
    for col in table.columns:
        corr = spearmanr if col.key[2] == "srcc" else pearsonr
        best = next(r for r in table.rows if r.cells[col.key].rank == 1).cells[col.key]
        for row in table.rows:
            stat = row.cells[col.key]
            if stat is best:
                continue
            for split, p in stat.image_p.items():
                a, b = preds[best.cells[split]], preds[stat.cells[split]]
                ids = sorted(a)
                mos, x, y = ([a[i][0] for i in ids], [a[i][1] for i in ids], [b[i][1] for i in ids])
                r_best, r_other, r_between = corr(mos, x)[0], corr(mos, y)[0], corr(x, y)[0]
                assert p == pytest.approx(williams_t(r_best, r_other, r_between, len(ids))[1], rel=1e-9)
                tested += 1
            significant = sum(p < 0.05 for p in stat.image_p.values())
            assert stat.image_tested == 6 and stat.image_significant == significant
            assert ("◇" in stat.mark) == (2 * significant <= 6)
    assert tested == 2 * 3 * 6  # 2 columns x 3 rows against the best x 6 splits
    rows = (out / "cells.csv").read_text().splitlines()
    assert "image_tested" in rows[0] and "image_p_median" in rows[0]


def test_bootstrap_image_test_end_to_end(sites):
    """--image-test bootstrap: the same splits tested, p from resampled images; the note and the legend say so."""
    _, williams = sites["synthetic"]
    report = build_report(williams.source, views=[], image_test="bootstrap")
    table = next(t for t in report.tables if t.id == "table1")
    reference = next(t for t in williams.tables if t.id == "table1")
    for row, ref in zip(table.rows, reference.rows):
        for key, stat in row.cells.items():
            assert set(stat.image_p) == set(ref.cells[key].image_p)  # the same splits, another test
            assert all(0 <= p <= 1 for p in stat.image_p.values())
    assert any("paired bootstrap over the test images" in n for n in table.notes)
    assert build_report(williams.source, views=[], image_test="none").tables[0].rows[0].cells
