"""Notebooks execute under papermill with the ``smoke`` profile (as `make book` runs them with ``cpu``)."""

import ast
import re
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from stssl.algorithms import ALGORITHMS
from stssl.paper import DISPLAY_NAMES, TABLE1
from stssl.runs import load_run, runs_root

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BOOK_ORDER = re.search(r"^NOTEBOOKS := (.*)$", (ROOT / "Makefile").read_text(), re.M).group(1).split()


def _outputs(nb) -> str:
    return "\n".join(str(o.get("data", o.get("text", ""))) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_make_book_runs_every_notebook_and_the_toc_shows_every_page():
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


def test_summary_reads_each_page_with_that_page_s_seeds():
    """Otherwise the summary would ask for other runs than the pages, and train them."""
    summary_seeds = ast.literal_eval(re.search(r"^seeds = (\{.*?\})", _parameters_cell("summary"), re.M).group(1))
    assert set(summary_seeds) == set(BOOK_ORDER) - {"geosynth", "explore", "summary"}
    for page, n in summary_seeds.items():
        assert int(re.search(r"^seeds = (\d+)", _parameters_cell(page), re.M).group(1)) == n, page


@pytest.mark.parametrize("name", BOOK_ORDER)
def test_every_notebook_runs_in_the_smoke_profile(tmp_path, name):
    """As `make book` runs them (default parameters but the profile), with one seed to stay fast."""
    params = {"profile": "smoke"}
    source = _parameters_cell(name)
    if re.search(r"^seeds = \d", source, re.M):
        params["seeds"] = 1
    elif re.search(r"^seeds = \{", source, re.M):
        params["seeds"] = {page: 1 for page in BOOK_ORDER}
    if name == "geosynth":
        params = {"n_samples": 2000, "out_dir": str(tmp_path / "figures")}
    out = tmp_path / f"{name}.ipynb"
    pm.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out), parameters=params, cwd=str(NOTEBOOKS),
                        progress_bar=False)
    if name != "geosynth":
        assert "smoke" in _outputs(nbformat.read(out, as_version=4))  # each page says which profile made it


def test_table1_smoke(tmp_path):
    out = tmp_path / "table1.ipynb"
    pm.execute_notebook(str(NOTEBOOKS / "table1.ipynb"), str(out), parameters={"profile": "smoke", "seeds": 2},
                        cwd=str(NOTEBOOKS), progress_bar=False)
    text = _outputs(nbformat.read(out, as_version=4))
    for expected in ("FixMatch + ST-SSL", "Supervised only", "46.12", "42.56", "smoke"):
        assert expected in text


@pytest.mark.parametrize("algo", [a for a in ALGORITHMS if a != "fixmatch"])
def test_table1_runs_each_algorithm(tmp_path, algo):
    out = tmp_path / "table1.ipynb"
    pm.execute_notebook(str(NOTEBOOKS / "table1.ipynb"), str(out), parameters={"algo": algo, "profile": "smoke", "seeds": 1},
                        cwd=str(NOTEBOOKS), progress_bar=False)
    text = _outputs(nbformat.read(out, as_version=4))
    name = DISPLAY_NAMES[algo]
    assert "Supervised only" in text
    if algo != "supervised":
        assert f"{name} + ST-SSL" in text and f"{TABLE1[algo][1]:.2f}" in text


def test_table1_all_algorithms_in_one_table(tmp_path):
    """After the per-algorithm runs above (same run cache), ``algo="all"`` only reads them."""
    out = tmp_path / "table1.ipynb"
    pm.execute_notebook(str(NOTEBOOKS / "table1.ipynb"), str(out), parameters={"profile": "smoke", "seeds": 1},
                        cwd=str(NOTEBOOKS), progress_bar=False)
    text = _outputs(nbformat.read(out, as_version=4))
    for algo, name in DISPLAY_NAMES.items():
        assert name in text
        if algo != "supervised":
            assert f"{name} + ST-SSL" in text
    assert "of 7 algorithms" in text


def test_table1_hyper_parameters_reach_the_run(tmp_path):
    out = tmp_path / "table1.ipynb"
    pm.execute_notebook(str(NOTEBOOKS / "table1.ipynb"), str(out), cwd=str(NOTEBOOKS), progress_bar=False,
                        parameters={"algo": "udal", "profile": "smoke", "seeds": 1, "algo_params": {"threshold": 0.6},
                                    "config": {"steps": 10}})
    text = _outputs(nbformat.read(out, as_version=4))
    assert "10 steps" in text
    runs = [load_run(p) for p in (runs_root() / "geosynth").iterdir() if (p / "metrics.json").exists()]
    assert any(r.config.algo == "udal" and r.config.algo_params == {"threshold": 0.6} and r.config.steps == 10 for r in runs)


def test_table1_unknown_algorithm_fails_at_once(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match=r"unknown algorithm 'nope'.*valid: supervised, fixmatch"):
        pm.execute_notebook(str(NOTEBOOKS / "table1.ipynb"), str(tmp_path / "out.ipynb"),
                            parameters={"algo": "nope", "profile": "smoke"}, cwd=str(NOTEBOOKS), progress_bar=False)


def test_geosynth_page_notebook(tmp_path):
    pm.execute_notebook(str(NOTEBOOKS / "geosynth.ipynb"), str(tmp_path / "geosynth.ipynb"),
                        parameters={"n_samples": 2000, "out_dir": str(tmp_path / "figures")},
                        cwd=str(NOTEBOOKS), progress_bar=False)
    assert (tmp_path / "figures" / "geosynth_map.png").stat().st_size > 10_000
    assert (tmp_path / "figures" / "geosynth_examples.png").stat().st_size > 10_000
