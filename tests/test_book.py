"""The book's sources and the check over its built HTML (the built book itself: test_notebooks.py)."""

import dataclasses
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from stssl.book import check_html, papermill_command, rerun_cell, toc_files
from stssl.experiments import BY_NAME, notebook_params

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64

# A reference to a file outside this repository, which no reader of the book or user of the
# package can follow ("spec 3.2", "spec section 7", "the spec", "shared/notes/...").
OUTSIDE = re.compile(
    r"\bspec(?:'s| section)?\s+\d|\bthe spec\b|\bshared/|\bnotes/|official-implementation\.md|"
    r"cpu-feasibility\.md"
)


def _sources() -> list[Path]:
    """The repository's text files, but this one (its examples are what the tests look for)."""
    skip = {".venv", "_build", "results", ".git", ".pytest_cache", "stssl.egg-info"}
    return [
        p
        for p in ROOT.rglob("*")
        if p.is_file()
        and not skip & set(p.relative_to(ROOT).parts)
        and (p.suffix in (".py", ".md", ".ipynb", ".yml", ".yaml", ".toml", ".bib") or p.name == "Makefile")
        and p != Path(__file__)
    ]


def test_no_reference_points_outside_the_repository():
    found = [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()[:100]}"
        for p in _sources()
        for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not found, "point these at book/implementation.md or the authors' files instead:\n" + "\n".join(found)


def test_every_citation_and_implementation_section_exists():
    """The strict build fails on these too, but only after minutes; this names the file at once."""
    bib = (ROOT / "book" / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    labels = set(re.findall(r"^\((impl-[\w-]+)\)=$", (ROOT / "book" / "implementation.md").read_text(), re.M))
    cited, referenced = set(), set()
    for path in _sources():
        text = path.read_text(errors="replace")
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text):
            cited |= {(k.strip(), path.name) for k in group.split(",")}
        referenced |= {(label, path.name) for label in re.findall(r"\{ref\}`(impl-[\w-]+)`", text)}
    assert not {c for c in cited if c[0] not in keys}
    assert not {r for r in referenced if r[0] not in labels}
    assert {k for k, _ in cited} == keys  # every entry is cited somewhere, so the bibliography lists it


def test_the_rerun_commands_reproduce_the_page_s_parameters():
    table1, summary = BY_NAME["table1"], BY_NAME["summary"]
    paper = notebook_params(table1, "paper", data_root="/data/ben")
    assert shlex.split(papermill_command(table1, paper)) == [
        "papermill",
        "notebooks/table1.ipynb",
        "table1.ipynb",
        "-p",
        "profile",
        "paper",
        "-p",
        "data_root",
        "/data/ben",
    ]
    params = notebook_params(summary, "cpu")
    args = shlex.split(papermill_command(summary, params))
    assert yaml.safe_load(args[args.index("-y") + 1]) == {"seeds": params["seeds"]}
    note = rerun_cell(table1, "smoke", notebook_params(table1, "smoke", seeds=1)).source
    for line in ("-p profile smoke -p seeds 1", "-p profile cpu\n", "-p profile paper -p data_root /data/BigEarthNet"):
        assert line in note
    assert "as built here" not in rerun_cell(table1, "cpu", notebook_params(table1, "cpu")).source
    assert "as built here (cpu profile)" in rerun_cell(table1, "cpu", notebook_params(table1, "cpu", seeds=3)).source


def _book(tmp_path: Path, toc_extra: str = "") -> tuple[Path, Path]:
    """A two-page book source and its 'built' HTML, sound until a test breaks it."""
    src, html = tmp_path / "src", tmp_path / "html"
    (src / "book" / "results").mkdir(parents=True)
    (src / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/results/table1\n" + toc_extra
    )
    (src / "book" / "intro.md").write_text("# Intro\n```{include} results/build-info.md\n```\n")
    (src / "book" / "results" / "build-info.md").write_text("built\n")
    (src / "book" / "results" / "table1.ipynb").write_text("{}")
    (html / "book" / "results").mkdir(parents=True)
    (html / "_images").mkdir()
    (html / "_images" / "fig.png").write_bytes(PNG)
    (html / "book" / "intro.html").write_text('<html><img src="../_images/fig.png"></html>')
    (html / "book" / "results" / "table1.html").write_text(
        '<div class="cell_output docutils container"><div class="output text_plain">mAP 0.41</div></div>'
        '<img src="data:image/png;base64,' + "A" * 200 + '">'
    )
    return html, src


def test_check_html_passes_a_sound_book(tmp_path):
    html, src = _book(tmp_path)
    assert toc_files(src / "_toc.yml") == ["book/intro", "book/results/table1"]
    assert check_html(html, src) == []


def test_check_html_finds_pages_missing_from_the_toc_or_not_built(tmp_path):
    html, src = _book(tmp_path, "  - file: book/gpu\n")
    (src / "book" / "orphan.md").write_text("# Orphan\n")
    problems = check_html(html, src)
    assert "book/orphan.md: not in _toc.yml" in problems
    assert any(p.startswith("book/gpu: listed in _toc.yml but not built") for p in problems)
    assert len(problems) == 2  # build-info.md is included by intro.md: not an orphan


def test_check_html_finds_missing_and_empty_images(tmp_path):
    html, src = _book(tmp_path)
    (html / "_images" / "empty.png").write_bytes(b"")
    (html / "book" / "intro.html").write_text(
        '<img src="../_images/fig.png"><img src="../_images/gone.png">'
        '<img src="../_images/empty.png"><img src="data:image/png;base64,">'
        '<img src="https://example.org/x.png">'
    )
    problems = check_html(html, src)
    assert problems == [
        "book/intro: image ../_images/gone.png missing or empty",
        "book/intro: image ../_images/empty.png missing or empty",
        "book/intro: an empty inline image",
        "book/intro: image https://example.org/x.png missing or empty",
    ]


def test_check_html_finds_an_error_in_a_cell_output_but_not_in_prose(tmp_path):
    html, src = _book(tmp_path)
    page = html / "book" / "results" / "table1.html"
    page.write_text(
        "<p>ValueError: prose may name an error</p>"
        '<div class="cell_output docutils container"><div class="output stderr"><pre>'
        "Traceback (most recent call last):\n  File x\nValueError: bad\n</pre></div></div>"
    )
    assert check_html(html, src) == [
        "book/results/table1: a cell output holds an error: Traceback (most recent call last):"
    ]
    page.write_text("<div class=\"cell_output docutils container\"><pre>KeyError: 'sea'</pre></div>")
    assert check_html(html, src) == ["book/results/table1: a cell output holds an error: KeyError: 'sea'"]


def test_the_publish_workflow_builds_with_make_book_and_deploys_the_html():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    assert workflow[True]["push"]["branches"] == ["main"]  # YAML 1.1 reads the key "on" as True
    build, deploy = workflow["jobs"]["build"]["steps"], workflow["jobs"]["deploy"]["steps"]
    assert [s["run"] for s in build if s.get("run", "").startswith("make")] == ["make book"]
    upload = next(s for s in build if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html"
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in deploy)


def test_make_html_fails_on_a_broken_reference_or_citation(tmp_path):
    """The strict build: a warning fails ``make html`` (and so ``make book``), all of them listed."""
    for name in ("Makefile", "_config.yml", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "book").mkdir()
    shutil.copy(ROOT / "book" / "references.bib", tmp_path / "book")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n")
    (tmp_path / "book" / "intro.md").write_text("# Intro\n\nSee {doc}`missing` and {cite:p}`nobody2099`.\n")
    stamp = tmp_path / "installed"
    stamp.touch()
    done = subprocess.run(
        ["make", "-C", str(tmp_path), "html", f"PY={sys.executable}", f"STAMP={stamp}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-3000:]
    assert "unknown document: 'missing'" in output and "nobody2099" in output
    assert "check-book" not in done.stdout  # it stops at the build


def test_the_book_trains_every_page_s_runs_first_and_each_once(tmp_path, monkeypatch, capsys):
    """``train_first`` trains the runs of all the pages before any executes (Table 1's FixMatch +
    ST-SSL is also Figure 4's: trained once); a second call, as the pages' own ``get_runs`` then,
    finds them all cached and trains nothing."""
    from stssl.book import train_first
    from stssl.config import distinct
    from stssl.experiments import page_configs
    from stssl.runs import run_dir, run_folder

    monkeypatch.setenv("STSSL_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("STSSL_WORKERS", "1")  # in this process: no worker start-up in a test
    cfgs = [
        dataclasses.replace(c, steps=4, eval_every=2) for c in page_configs(BY_NAME["table1"], "smoke", seeds=1)[:3]
    ]
    shared = [c for c in cfgs if c.st]  # a page asking for a run another page asked for
    train_first(distinct(cfgs + shared))
    assert "3 for the pages, 0 cached" in capsys.readouterr().out
    assert all(run_folder(c).status() == "finished" for c in cfgs)
    written = {c.key(): (run_dir(c) / "metrics.json").stat().st_mtime_ns for c in cfgs}
    train_first(cfgs)
    assert "3 for the pages, 3 cached" in capsys.readouterr().out
    assert {c.key(): (run_dir(c) / "metrics.json").stat().st_mtime_ns for c in cfgs} == written
