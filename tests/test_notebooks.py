"""Notebooks execute under papermill with the ``smoke`` profile (as `make book` runs them with ``cpu``)."""

import ast
import base64
import io
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import browser
import nbformat
import numpy as np
import pandas as pd
import papermill as pm
import pytest

from stssl.algorithms import ALGORITHMS
from stssl.experiments import PAGES
from stssl.paper import DISPLAY_NAMES, TABLE1
from stssl.runs import load_run, runs_root

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BOOK_ORDER = [p.name for p in PAGES]


def _outputs(nb) -> str:
    return "\n".join(
        str(o.get("data", o.get("text", ""))) for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )


def test_the_book_runs_every_notebook_and_the_toc_shows_every_page():
    assert sorted(BOOK_ORDER) == sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert BOOK_ORDER[-1] == "summary"  # it reads the runs of every other page
    toc = (ROOT / "_toc.yml").read_text()
    for name in BOOK_ORDER:
        if name != "geosynth":  # its figures illustrate book/geosynth.md
            assert f"book/results/{name}\n" in toc
    for page in re.findall(r"file: (\S+)", toc):
        assert (ROOT / f"{page}.md").exists() or page.startswith("book/results/"), page


def _parameters_cell(name: str) -> str:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    return next((c.source for c in nb.cells if "parameters" in c.metadata.get("tags", [])), "")


def test_summary_and_the_page_table_read_each_page_with_that_page_s_seeds():
    """Otherwise the summary (or a sweep) would ask for other runs than the pages, and train them."""
    summary_seeds = ast.literal_eval(re.search(r"^seeds = (\{.*?\})", _parameters_cell("summary"), re.M).group(1))
    assert set(summary_seeds) == set(BOOK_ORDER) - {"geosynth", "explore", "summary"}
    for page in PAGES:
        own = re.search(r"^seeds = (\d+)", _parameters_cell(page.name), re.M)
        assert page.seeds == (int(own.group(1)) if own else None), page.name
        if page.seeds is not None:
            assert summary_seeds[page.name] == page.seeds, page.name


# The folder of a smoke book built before (make book PROFILE=smoke SEEDS=1 with STSSL_RUNS=<folder>/runs):
# the browser tests read it instead of building one, in a minute instead of five
REUSE = os.environ.get("STSSL_SMOKE_BOOK")


@dataclass
class SmokeBook:
    """A book built by ``make book PROFILE=smoke SEEDS=1`` in a copy of the sources (``root``: its
    ``book/results``, ``_build/html`` and its own run cache ``runs``)."""

    root: Path
    done: subprocess.CompletedProcess

    @property
    def html(self) -> Path:
        return self.root / "_build" / "html"

    def check(self) -> None:
        assert self.done.returncode == 0, self.done.stdout[-3000:] + self.done.stderr[-3000:]


@pytest.fixture(scope="module")
def smoke_book(tmp_path_factory) -> SmokeBook:
    """The smoke book, built once for this module: its own test below and the browser tests read it
    (pytest-xdist runs a test file in one process, so no other process builds it again)."""
    if REUSE:
        return SmokeBook(Path(REUSE), subprocess.CompletedProcess([], 0, "", ""))
    root = tmp_path_factory.mktemp("smoke-book")
    for name in ("Makefile", "_config.yml", "_toc.yml", "pyproject.toml"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "book", root / "book", ignore=shutil.ignore_patterns("results"))
    stamp = root / "installed"
    stamp.touch()
    done = subprocess.run(
        ["make", "-C", str(root), "book", "PROFILE=smoke", "SEEDS=1", f"PY={sys.executable}", f"STAMP={stamp}"],
        capture_output=True,
        text=True,
        timeout=1500,
        env={**os.environ, "STSSL_RUNS": str(root / "runs")},
    )  # its own, empty run cache
    return SmokeBook(root, done)


def test_make_book_in_the_smoke_profile_executes_every_page_and_builds_the_html(smoke_book):
    """The same Makefile path as ``make book`` (one seed per page to stay fast), in a copy of the
    book's sources so that the developer's own book/results and _build are left alone: every page
    executed with its progress shown, a strict HTML build (any Sphinx warning fails it) and the
    check over the built HTML (``stssl check-book``: TOC, images, errors in outputs)."""
    if REUSE:
        pytest.skip(f"STSSL_SMOKE_BOOK={REUSE}: a book built before, not by this test")
    tmp_path, done = smoke_book.root, smoke_book.done
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "-W -n --keep-going" in done.stdout and "every page of _toc.yml built" in done.stdout
    # progress: every page's runs trained first, each once, a line per finished run; then each page
    # finds its runs cached; the time of the training and of each page
    assert "runs: 54 for the pages, 0 cached" in done.stdout
    assert "table1: 15 runs, 15 cached" in done.stdout and "table2: 14 runs, 14 cached" in done.stdout
    assert "  done  fixmatch on geosynth (smoke profile)" in done.stderr
    assert re.search(r"^runs: 54/54 done, 0 running, 0 failed, 0 queued; elapsed \S+, ETA", done.stderr, re.M)
    assert re.search(r"^all pages executed in \d+:\d\d:\d\d \((\w+ \d+:\d\d:\d\d, ){15}\w+ \d", done.stdout, re.M)
    for name in BOOK_ORDER:
        assert f"{name}: done in" in done.stdout
        if name != "geosynth":  # each page says which profile made it
            assert "smoke" in _outputs(nbformat.read(tmp_path / "book" / "results" / f"{name}.ipynb", as_version=4))
    assert not (tmp_path / "book" / "results" / "geosynth.ipynb").exists()  # its figures are book/geosynth.md's
    assert (tmp_path / "book" / "results" / "figures" / "geosynth_map.png").stat().st_size > 10_000
    assert "built with the" in (tmp_path / "book" / "results" / "build-info.md").read_text()
    html = tmp_path / "_build" / "html"
    table1 = (html / "book" / "results" / "table1.html").read_text()
    text = re.sub(r"<[^>]+>", "", table1)  # the commands are syntax-highlighted word by word
    assert "Re-run this page" in text and "papermill notebooks/table1.ipynb table1.ipynb -p profile paper" in text
    assert "tag_hide-input" in table1  # code behind a toggle
    assert 'href="../../_sources/book/results/table1.ipynb"' in table1  # the download button
    assert (html / "_sources" / "book" / "results" / "table1.ipynb").stat().st_size > 1000
    assert "Sohn et al., 2020" in text  # a citation, resolved
    assert "FixMatch: simplifying semi-supervised learning" in (html / "book" / "bibliography.html").read_text()
    site = tmp_path / "site"
    published = subprocess.run(["make", "-C", str(tmp_path), "publish", f"DEST={site}"], capture_output=True, text=True)
    assert published.returncode == 0, published.stdout + published.stderr
    assert (site / "index.html").exists() and (site / "book" / "results" / "table1.html").read_text() == table1
    # the data behind each table (every run and seed), the execution statistics, how to cite
    runs_csv = pd.read_csv(tmp_path / "book" / "results" / "downloads" / "table1" / "table1-table-1-runs.csv")
    assert len(runs_csv) == 15 and {"key", "method", "seed", "test_mAP"} <= set(runs_csv.columns)
    execution = re.sub(r"<[^>]+>", "", (html / "book" / "results" / "execution.html").read_text())
    assert "Execution statistics" in execution and "trained in this build" in execution and "smoke" in execution
    assert 'id="how-to-cite"' in (html / "book" / "intro.html").read_text()


def test_two_notebooks_at_once_share_their_runs(tmp_path):
    """Figure 6 and explore both need Table 1's FixMatch + ST-SSL (seed 0): executed at the same
    time in two processes, one trains it and the other waits for it; both pages complete."""
    runs = tmp_path / "runs"
    env = {**os.environ, "STSSL_RUNS": str(runs)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "papermill",
                str(NOTEBOOKS / f"{name}.ipynb"),
                str(tmp_path / f"{name}.ipynb"),
                "-p",
                "profile",
                "smoke",
                *extra,
                "--cwd",
                str(NOTEBOOKS),
                "--log-level",
                "WARNING",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, extra in (("figure6", ["-p", "seeds", "1"]), ("explore", ["-p", "n_predict", "200"]))
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    shared = [d for d in (runs / "geosynth").iterdir() if not d.name.startswith(".")]
    assert all(len(d.name) == 12 for d in shared)  # finished runs only: no partial folder, no lock left
    texts = [_outputs(nbformat.read(tmp_path / f"{n}.ipynb", as_version=4)) for n in ("figure6", "explore")]
    assert all("smoke" in t for t in texts)


def test_table1_smoke(tmp_path):
    out = tmp_path / "table1.ipynb"
    pm.execute_notebook(
        str(NOTEBOOKS / "table1.ipynb"),
        str(out),
        parameters={"profile": "smoke", "seeds": 2},
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    text = _outputs(nbformat.read(out, as_version=4))
    for expected in ("FixMatch + ST-SSL", "Supervised only", "46.12", "42.56", "smoke"):
        assert expected in text


@pytest.mark.parametrize("algo", [a for a in ALGORITHMS if a != "fixmatch"])
def test_table1_runs_each_algorithm(tmp_path, algo):
    out = tmp_path / "table1.ipynb"
    pm.execute_notebook(
        str(NOTEBOOKS / "table1.ipynb"),
        str(out),
        parameters={"algo": algo, "profile": "smoke", "seeds": 1},
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    text = _outputs(nbformat.read(out, as_version=4))
    name = DISPLAY_NAMES[algo]
    assert "Supervised only" in text
    if algo != "supervised":
        assert f"{name} + ST-SSL" in text and f"{TABLE1[algo][1]:.2f}" in text


def test_table1_all_algorithms_in_one_table(tmp_path):
    """After the per-algorithm runs above (same run cache), ``algo="all"`` only reads them."""
    out = tmp_path / "table1.ipynb"
    pm.execute_notebook(
        str(NOTEBOOKS / "table1.ipynb"),
        str(out),
        parameters={"profile": "smoke", "seeds": 1},
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    text = _outputs(nbformat.read(out, as_version=4))
    for algo, name in DISPLAY_NAMES.items():
        assert name in text
        if algo != "supervised":
            assert f"{name} + ST-SSL" in text
    # one seed resolves no paired difference: each algorithm's gain is listed as not resolved
    assert "7 algorithms: 0 hold, 0 contradicted, 7 not resolved" in text


def test_table1_hyper_parameters_reach_the_run(tmp_path):
    out = tmp_path / "table1.ipynb"
    pm.execute_notebook(
        str(NOTEBOOKS / "table1.ipynb"),
        str(out),
        cwd=str(NOTEBOOKS),
        progress_bar=False,
        parameters={
            "algo": "udal",
            "profile": "smoke",
            "seeds": 1,
            "algo_params": {"threshold": 0.6},
            "config": {"steps": 10},
        },
    )
    text = _outputs(nbformat.read(out, as_version=4))
    assert "10 steps" in text
    runs = [load_run(p) for p in (runs_root() / "geosynth").iterdir() if (p / "metrics.json").exists()]
    assert any(
        r.config.algo == "udal" and r.config.algo_params == {"threshold": 0.6} and r.config.steps == 10 for r in runs
    )


def test_table1_unknown_algorithm_fails_at_once(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match=r"unknown algorithm 'nope'.*valid: supervised, fixmatch"):
        pm.execute_notebook(
            str(NOTEBOOKS / "table1.ipynb"),
            str(tmp_path / "out.ipynb"),
            parameters={"algo": "nope", "profile": "smoke"},
            cwd=str(NOTEBOOKS),
            progress_bar=False,
        )


def test_geosynth_page_notebook(tmp_path):
    pm.execute_notebook(
        str(NOTEBOOKS / "geosynth.ipynb"),
        str(tmp_path / "geosynth.ipynb"),
        parameters={"n_samples": 2000, "out_dir": str(tmp_path / "figures")},
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    assert (tmp_path / "figures" / "geosynth_map.png").stat().st_size > 10_000
    assert (tmp_path / "figures" / "geosynth_examples.png").stat().st_size > 10_000


# ----- the book and JupyterLab in a real browser (Chromium; skipped, saying how to enable them, without it)
# What the checks of the HTML files cannot see: what JavaScript draws (math, dropdowns, toggles,
# widgets), what the browser requests, and how wide a table is once laid out.
PAGE_FACTS = r"""async () => {
  if (window.MathJax && MathJax.startup) { await MathJax.startup.promise; }
  window.scrollTo(0, document.body.scrollHeight);
  await new Promise(r => setTimeout(r, 200));
  const column = document.querySelector('article.bd-article').getBoundingClientRect();
  const below = el => { const holder = el.closest('.output') || el; const next = holder.nextElementSibling;
                        return next ? [...next.querySelectorAll('a.download')].map(a => a.getAttribute('href')) : []; };
  return {
    column: [column.left, column.right],
    tables: [...document.querySelectorAll('.cell_output table')].map(t => ({
      caption: t.caption ? t.caption.textContent.trim().slice(0, 60) : '',
      box: [t.getBoundingClientRect().left, t.getBoundingClientRect().right],
      headers: [...t.querySelectorAll('thead th')].map(th => th.textContent.trim()),
      indexName: [...t.querySelectorAll('thead th.index_name')].map(th => th.textContent.trim()).join(''),
      rowHeads: [...t.querySelectorAll('tbody th')].map(th => th.textContent.trim()),
      cells: [...t.querySelectorAll('td')].map(td => td.textContent.trim()),
      wordsRight: [...t.querySelectorAll('td')].filter(td => {  // a phrase (3 words or more) aligned as a number
        const s = td.textContent.trim(), letters = (s.match(/\p{L}/gu) || []).length, digits = (s.match(/\d/g) || []).length;
        return s.split(/\s+/).length >= 3 && letters > 4 * digits && getComputedStyle(td).textAlign === 'right';
      }).map(td => td.textContent.trim().slice(0, 60)),
      downloads: below(t)})),
    figures: [...document.querySelectorAll('.cell_output img')].map(i => ({src: i.getAttribute('src'), downloads: below(i)})),
    images: [...document.images].map(i => [i.getAttribute('src').slice(0, 80), i.complete, i.naturalWidth, i.naturalHeight]),
    math: [...document.querySelectorAll('span.math, div.math')].map(m => [!!m.querySelector('mjx-container'), m.textContent.slice(0, 60)]),
    toggles: [...document.querySelectorAll('article section')].map(s =>
      [s.id, [...s.querySelectorAll('details.above-input')].filter(d => d.closest('section') === s).length]),
  };
}"""
KERNEL_READY = """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle'; }"""
SNAKE_CASE = re.compile(r"^[a-z]+(_[a-zA-Z0-9]+)+$")  # a raw column name (teacher_test_mAP)


@pytest.fixture(scope="module")
def chromium():
    """One Chromium for this module's browser tests (Playwright's sync API runs one at a time)."""
    with browser.chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def book_in_chromium(smoke_book, chromium):
    """Every page of the TOC opened in Chromium over HTTP at 1 400 px: per page, what went wrong while
    it loaded and what it shows (:data:`PAGE_FACTS`); then the server and the page, for the tests that
    click. Screenshots of Table 1, Figures 4 and 6: ``<the smoke book>/screenshots/``."""
    from stssl.book import toc_files

    smoke_book.check()
    found, shots = {}, smoke_book.root / "screenshots"
    shots.mkdir(exist_ok=True)
    with browser.serve(smoke_book.html) as url:
        page = chromium.new_page(viewport={"width": 1400, "height": 900})
        recorder = browser.PageRecorder(page)
        for doc in toc_files(smoke_book.root / "_toc.yml"):
            page.goto(f"{url}/{doc}.html", wait_until="networkidle")
            facts = page.evaluate(PAGE_FACTS)
            facts["problems"] = recorder.take()
            found[doc] = facts
            name = doc.rsplit("/", 1)[-1]
            if name in ("table1", "figure4", "figure6"):
                page.evaluate("window.scrollTo(0, 0)")
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        yield found, url, page, recorder


def test_every_page_loads_in_chromium_with_no_error_no_failed_request_and_every_image(book_in_chromium):
    found, *_ = book_in_chromium
    problems = [f"{doc}: {p}" for doc, facts in found.items() for p in facts["problems"]]
    problems += [
        f"{doc}: image {src} not drawn ({w}x{h})"
        for doc, facts in found.items()
        for src, complete, w, h in facts["images"]
        if not complete or not w or not h
    ]
    assert not problems, "\n".join(problems)


def test_math_is_typeset_offline(book_in_chromium):
    """MathJax is served from the build (no CDN): every math element of the book is typeset."""
    found, *_ = book_in_chromium
    assert found["book/results/encoders"]["math"], "the encoders page's \\(\\text{lat}/90 ...\\) is gone"
    raw = [f"{doc}: {text}" for doc, facts in found.items() for typeset, text in facts["math"] if not typeset]
    assert not raw, "math left as raw TeX:\n" + "\n".join(raw)


def test_tables_fit_their_column_with_readable_headers_no_nan_and_no_pandas_index(book_in_chromium):
    """And words read from the left: a claim, a verdict or an ablation is not aligned as a number."""
    found, *_ = book_in_chromium
    problems = []
    for doc, facts in found.items():
        left, right = facts["column"]
        for t in facts["tables"]:
            what = f"{doc}: table {t['caption']!r}"
            if t["box"][0] < left - 1 or t["box"][1] > right + 1:
                problems.append(f"{what} is wider than its column ({t['box']} outside {facts['column']})")
            problems += [f"{what}: raw column name {h!r}" for h in t["headers"] if SNAKE_CASE.match(h)]
            problems += [f"{what}: shows {c!r} for a missing value" for c in t["cells"] if c in ("nan", "NaN", "None")]
            problems += [f"{what}: words aligned right, as numbers: {c!r}" for c in t["wordsRight"]]
            numbered = t["rowHeads"] == [str(i) for i in range(len(t["rowHeads"]))]
            if len(t["rowHeads"]) > 1 and numbered and not t["indexName"]:  # pandas' unnamed 0, 1, ... index
                problems.append(f"{what}: shows pandas' row numbers as its index")
    assert not problems, "\n".join(problems)


def test_one_code_toggle_per_section_and_the_data_under_each_table_and_figure(book_in_chromium):
    found, *_ = book_in_chromium
    problems = [
        f"{doc}: section {section!r} has {n} code toggles"
        for doc, facts in found.items()
        for section, n in facts["toggles"]
        if n > 1
    ]
    results = {doc: facts for doc, facts in found.items() if doc.startswith("book/results/") and facts["tables"]}
    assert len(results) >= 12
    for doc, facts in results.items():
        for t in facts["tables"]:
            if not any(h.endswith(".csv") for h in t["downloads"]):
                problems.append(f"{doc}: no CSV under table {t['caption']!r}")
        for f in facts["figures"]:
            if not {".png", ".svg"} <= {Path(h).suffix for h in f["downloads"]}:
                problems.append(f"{doc}: no PNG and SVG under figure {f['src']}")
    assert not problems, "\n".join(problems)


def test_a_table_s_csv_carries_every_seed(book_in_chromium):
    """Table 1's second link: one row per run, each with its seed and test mAP, from which the mean
    ± std the table shows are recomputed."""
    found, url, page, recorder = book_in_chromium
    links = found["book/results/table1"]["tables"][0]["downloads"]
    runs_link = next(h for h in links if h.endswith("-runs.csv"))
    response = page.request.get(f"{url}/book/results/{runs_link}")
    assert response.ok
    frame = pd.read_csv(io.StringIO(response.text()))
    assert len(frame) == 15 and frame["seed"].tolist() == [0] * 15
    shown = pd.read_csv(io.StringIO(page.request.get(f"{url}/book/results/{links[0]}").text()), index_col=0)
    fixmatch = frame.loc[frame["method"] == "FixMatch", "test_mAP"].mean() * 100
    assert f"{fixmatch:.2f}" == str(shown.loc["FixMatch"].iloc[0])


def test_rerun_dropdown_code_toggle_and_citation_work_as_a_reader_clicks_them(book_in_chromium):
    found, url, page, recorder = book_in_chromium
    page.goto(f"{url}/book/results/table1.html", wait_until="networkidle")
    note = page.locator("div.admonition.dropdown", has_text="Re-run this page")
    command = note.locator("pre").first
    assert not command.is_visible()
    note.locator(".admonition-title").click()
    command.wait_for(state="visible")
    assert "papermill notebooks/table1.ipynb table1.ipynb -p profile paper" in note.inner_text()
    toggle = page.locator("details.above-input").first
    assert not toggle.locator(".cell_input").is_visible()
    toggle.locator("summary").click()
    assert toggle.locator(".cell_input").is_visible() and "get_runs(" in toggle.locator(".cell_input").inner_text()
    cite = page.locator("a[href*='bibliography.html#']", has_text="Sohn").first
    cite.click()
    page.wait_for_url("**/bibliography.html#*")
    entry = page.locator(f"[id='{page.url.split('#', 1)[1]}']")
    assert "FixMatch" in entry.inner_text()
    assert not recorder.take()


def test_the_sidebar_reaches_every_page(book_in_chromium, smoke_book):
    from stssl.book import toc_files

    found, url, page, recorder = book_in_chromium
    page.goto(f"{url}/book/intro.html", wait_until="networkidle")
    hrefs = page.eval_on_selector_all("nav.bd-docs-nav a.reference.internal", "els => els.map(a => a.href)")
    reached = {h.split("#")[0].removeprefix(f"{url}/").removesuffix(".html") for h in hrefs}
    assert reached | {"book/intro"} == set(toc_files(smoke_book.root / "_toc.yml"))
    assert page.locator("a[href='results/execution.html']").count()  # the introduction links the statistics
    assert "@software{stssl" in page.locator("section#how-to-cite").inner_text()


def test_explore_in_jupyterlab_runs_its_widgets_and_redraws_them(smoke_book, chromium, tmp_path):
    """JupyterLab as a reader opens it: ``explore.ipynb`` on the smoke book's Table 1 run, every cell
    run, the widgets drawn; another class in the drop-down redraws the class maps (a new image of
    the same size and layout, no warning: a map drawn after a display in the widget's callback
    came out nearly blank, a third of its pixels the first drawing's), another sample redraws the
    sample; the server shuts down cleanly."""
    from PIL import Image

    smoke_book.check()
    nb = pm.iorw.load_notebook_node(str(NOTEBOOKS / "explore.ipynb"))
    nbformat.write(
        pm.parameterize.parameterize_notebook(nb, {"profile": "smoke", "n_predict": 200}), tmp_path / "explore.ipynb"
    )
    with browser.jupyter_lab(tmp_path, browser.lab_environment(smoke_book.root / "runs")) as (url, server):
        page = chromium.new_page(viewport={"width": 1400, "height": 2400})
        recorder = browser.PageRecorder(page)
        page.goto(f"{url}/lab/tree/explore.ipynb")
        # the kernel connected and idle, then Run All Cells as JupyterLab's command (a click on the menu
        # before the kernel was connected ran nothing, now and then)
        page.wait_for_function(KERNEL_READY, timeout=120_000)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        widget = page.locator(".widget-interact")
        widget.wait_for(timeout=180_000)
        widget.scroll_into_view_if_needed()
        images = widget.locator("img")

        def drawn(n=2):
            page.wait_for_function(
                f"() => [...document.querySelectorAll('.widget-interact img')].filter(i => i.complete && i.naturalWidth).length == {n}",
                timeout=60_000,
            )
            return [images.nth(i).get_attribute("src") for i in range(n)]

        def png(src):
            return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB")

        sample, maps = drawn()
        assert not page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']").count()
        assert widget.locator("select").count() == 1 and widget.locator(".widget-slider").count() == 1
        widget.locator("select").select_option("Pastures")
        page.wait_for_function(
            "src => { const i = document.querySelectorAll('.widget-interact img'); return i.length == 2 && i[1].complete && i[1].src != src; }",
            arg=maps,
            timeout=60_000,
        )
        sample2, maps2 = drawn()
        before, after = png(maps), png(maps2)
        assert sample2 == sample and before.size == after.size
        # the same base maps in the same places: most pixels agree; the class's dots and titles differ
        same = np.mean(np.all(np.asarray(before) == np.asarray(after), axis=-1))
        assert 0.6 < same < 1, same
        streams = widget.locator(".jp-OutputArea-output[data-mime-type^='application/vnd.jupyter.std']")
        assert streams.count() == 0, streams.all_inner_texts()
        widget.locator(".widget-slider .noUi-handle, .widget-slider input").first.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "src => { const i = document.querySelectorAll('.widget-interact img'); return i.length == 2 && i[0].complete && i[0].src != src; }",
            arg=sample,
            timeout=60_000,
        )
        assert png(drawn()[0]).size[1] > 100 and streams.count() == 0
        assert not [p for p in recorder.take() if "favicon" not in p], recorder.take()
        (smoke_book.root / "screenshots").mkdir(exist_ok=True)
        page.screenshot(path=str(smoke_book.root / "screenshots" / "explore-jupyterlab.png"))
        page.close()
        server.terminate()
        assert server.wait(30) == 0
    assert "Shutting down" in (tmp_path / "jupyterlab.log").read_text()
