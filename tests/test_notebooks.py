"""Notebooks execute under papermill with the ``smoke`` profile (as `make book` runs them with ``cpu``)."""

from pathlib import Path

import nbformat
import papermill as pm
import pytest

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
