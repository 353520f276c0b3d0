"""Notebooks execute under papermill with the ``smoke`` profile (as `make book` runs them with ``cpu``)."""

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
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


def test_make_book_in_the_smoke_profile_executes_every_page_and_builds_the_html(tmp_path):
    """The same Makefile path as ``make book`` (one seed per page to stay fast), in a copy of the
    book's sources so that the developer's own book/results and _build are left alone: every page
    executed with its progress shown, a strict HTML build (any Sphinx warning fails it) and the
    check over the built HTML (``stssl check-book``: TOC, images, errors in outputs)."""
    for name in ("Makefile", "_config.yml", "_toc.yml", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "book", tmp_path / "book", ignore=shutil.ignore_patterns("results"))
    stamp = tmp_path / "installed"
    stamp.touch()
    done = subprocess.run(
        ["make", "-C", str(tmp_path), "book", "PROFILE=smoke", "SEEDS=1", f"PY={sys.executable}", f"STAMP={stamp}"],
        capture_output=True,
        text=True,
        timeout=1500,
        env={**os.environ, "STSSL_RUNS": str(tmp_path / "runs")},
    )  # its own, empty run cache
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "-W -n --keep-going" in done.stdout and "every page of _toc.yml built" in done.stdout
    # progress: every page's runs trained first, each once, a line per finished run; then each page
    # finds its runs cached; the time of the training and of each page
    assert "runs: 65 for the pages, 0 cached" in done.stdout
    assert "table1: 15 runs, 15 cached" in done.stdout and "table2: 14 runs, 14 cached" in done.stdout
    assert "  done  fixmatch on geosynth (smoke profile)" in done.stderr
    assert re.search(r"^runs: 65/65 done, 0 running, 0 failed, 0 queued; elapsed \S+, ETA", done.stderr, re.M)
    assert re.search(r"^all pages executed in \d+:\d\d:\d\d \((\w+ \d+:\d\d:\d\d, ){14}\w+ \d", done.stdout, re.M)
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
    assert "of 7 algorithms" in text


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
