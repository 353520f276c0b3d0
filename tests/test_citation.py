"""CITATION.cff is valid Citation File Format, and the book's "How to cite" cites the same study."""

import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# cffconvert in a venv of its own (the Makefile's: it pins jsonschema < 4, which JupyterLab cannot run with)
CFFCONVERT = ROOT / ".venv" / "cffconvert" / "bin" / "cffconvert"


def test_citation_cff_validates():
    assert CFFCONVERT.exists(), f"{CFFCONVERT} missing: `make install` creates it"
    done = subprocess.run(
        [str(CFFCONVERT), "--validate", "-i", str(ROOT / "CITATION.cff")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    bibtex = subprocess.run(
        [str(CFFCONVERT), "-f", "bibtex", "-i", str(ROOT / "CITATION.cff")], capture_output=True, text=True
    )
    assert bibtex.returncode == 0 and "stssl" in bibtex.stdout, bibtex.stdout + bibtex.stderr


def test_how_to_cite_matches_the_citation_file():
    """The study's version and title, the paper's arXiv id and the authors' commit: one set of facts."""
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    intro = (ROOT / "book" / "intro.md").read_text()
    section = intro.split("## How to cite", 1)[1]
    study = re.search(r"@software\{stssl,(.*?)\n\}", section, re.S).group(1)
    assert f"version = {{{cff['version']}}}" in study
    assert " ".join(cff["title"].split()) in " ".join(study.split())
    paper, code = cff["references"]
    assert paper["identifiers"][0]["value"].removeprefix("arXiv:") in section
    assert code["commit"] in section and code["repository-code"] in section
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(rf'^version = "{re.escape(cff["version"])}"', pyproject, re.M), "CITATION.cff's version"
