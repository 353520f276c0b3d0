"""Notebooks execute under papermill with the ``smoke`` profile (as `make book` runs them with ``cpu``)."""

from pathlib import Path

import nbformat
import papermill as pm
import pytest

from stssl.algorithms import ALGORITHMS
from stssl.paper import DISPLAY_NAMES, TABLE1
from stssl.runs import load_run, runs_root

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _outputs(nb) -> str:
    return "\n".join(str(o.get("data", o.get("text", ""))) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


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
