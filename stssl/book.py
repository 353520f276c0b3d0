"""Execute the book's notebooks for a book built in one profile (``make book``), and check the
built HTML.

Each page gets the parameters :mod:`stssl.experiments` gives it, so a ``paper`` book reads
the very runs ``stssl sweep all --profile paper`` trained. The runs of all the pages are trained
first (:func:`train_first`), then the pages execute, two at a time (:func:`page_workers`), and read
them; while runs train, the terminal shows them (how many are cached, each training run's step, an
ETA: :class:`stssl.sweep.Board`); the last line gives the total time and the share of the training
and of each page. A page whose notebook fails stops the build with the page's name and the path of
its partly executed copy.

Each executed page opens with the commands that re-run it (``cpu`` and ``paper`` profile) and the
notebook's parameters, and hides its code behind a toggle (``hide-input``: one per section, the
notebooks having one code cell per section), its tables and figures shown, each with its files
linked under it (:mod:`stssl.report.downloads`: ``STSSL_BOOK_PAGE`` names the page being executed).
The last page written is ``execution.md``, the execution statistics: per page the runs it needs,
how many this build trained and how many it read from the cache, the training and page times;
for the build the machine, the versions, the commit, the profile and the date.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import shutil
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import yaml

import stssl
from stssl.cache import run_folder
from stssl.config import distinct, seed_list
from stssl.core import signals
from stssl.core.devices import usable_cores
from stssl.core.workers import in_workers
from stssl.experiments import notebook_params, page_configs, pages
from stssl.experiments.page import Page
from stssl.report.downloads import PAGE_ENV
from stssl.runs import default_workers, get_runs
from stssl.sweep import Board, describe, format_duration, plan

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
# Placeholders in the paper-profile command: where a reader keeps the real data sets.
PAPER_ROOTS = {"data_root": "/data/BigEarthNet-v1.0", "eurosat_root": "/data/EuroSAT"}


def build_info(profile: str, data_root: str | None, eurosat_root: str | None, seeds=None) -> str:
    """The lines the introduction and the summary show: which profile, data and seeds produced the book."""
    data = {"paper": f"BigEarthNet from `{data_root}` and EuroSAT from `{eurosat_root}`"}.get(
        profile, "the embedded GeoSynth data set"
    )
    counts = {p.name: p.seeds if seeds is None else seeds for p in pages(["all"]) if p.seeds is not None}
    if len({str(c) for c in counts.values()}) == 1:
        ran = f"seeds {', '.join(map(str, seed_list(next(iter(counts.values())))))} on every page"
    else:
        ran = "these seeds: " + ", ".join(f"{name} {', '.join(map(str, seed_list(c)))}" for name, c in counts.items())
    return (
        f"This book was built with the **`{profile}` profile** ({data}) and {ran} on "
        f"{time.strftime('%Y-%m-%d')}; the pages about GeoSynth itself use the `cpu` profile.\n"
    )


# ----- re-run commands and hidden code ------------------------------------------------------
def papermill_command(page: Page, params: dict) -> str:
    """``papermill`` re-running ``page`` with ``params`` (values at the notebook's default left out)."""
    args = []
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, (dict, list)):
            args += ["-y", yaml.safe_dump({name: value}, default_flow_style=True, width=10**6).strip()]
        else:
            args += ["-p", name, str(value)]
    return shlex.join(["papermill", f"notebooks/{page.name}.ipynb", f"{page.name}.ipynb", *args])


def rerun_cell(page: Page, profile: str, params: dict, parameters: str = "") -> nbformat.NotebookNode:
    """A collapsed note with the commands that reproduce ``page`` in the ``cpu`` and ``paper``
    profiles (the paper's data under :data:`PAPER_ROOTS`), and as built here when that differs;
    then ``parameters``, the source of the notebook's parameters cell (what ``-p`` can set)."""
    commands = {
        "cpu profile (GeoSynth, a laptop)": notebook_params(page, "cpu"),
        "paper profile (BigEarthNet and EuroSAT, a GPU)": notebook_params(page, "paper", **PAPER_ROOTS),
    }
    if params not in commands.values():
        commands = {f"as built here ({profile} profile)": params, **commands}
    body = "\n".join(f"# {what}\n{papermill_command(page, p)}" for what, p in commands.items())
    return nbformat.v4.new_markdown_cell(
        "````{admonition} Re-run this page\n:class: tip dropdown\n"
        "From the repository's root, after `make install`; cached runs are read, missing ones trained. "
        "The paper profile reads the data sets from the folders shown (see {doc}`/book/gpu`).\n\n"
        f"```bash\n{body}\n```\n"
        + (
            f"\nThe notebook's parameters and their defaults (`notebooks/{page.name}.ipynb`):\n\n"
            f"```python\n{parameters.strip()}\n```\n"
            if parameters.strip()
            else ""
        )
        + "````"
    )


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PARAMETER_TAGS = ("parameters", "injected-parameters")


def present(nb: nbformat.NotebookNode, page: Page, profile: str, params: dict) -> nbformat.NotebookNode:
    """The executed notebook as the book shows it: the re-run note after the title, with the
    parameters; the code of each section behind one toggle.

    The parameters cells' code is not shown as such (the re-run note gives it), so that the first
    section's toggle is its one code cell's. Progress bars (ipywidgets in a kernel, tqdm's) are left
    out: a static page cannot draw them, and their JavaScript would come from a CDN."""
    parameters = ""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.setdefault("tags", [])
        if any(t in tags for t in PARAMETER_TAGS):
            parameters = parameters or (cell.source if "parameters" in tags else "")
            tags[:] = [t for t in tags if t != "hide-input"] + ["remove-input"] * ("remove-input" not in tags)
        elif "hide-input" not in tags:
            tags.append("hide-input")
        cell.outputs = [o for o in cell.get("outputs", []) if WIDGET_VIEW not in o.get("data", {})]
    nb.metadata.pop("widgets", None)
    first_markdown = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), -1)
    nb.cells.insert(first_markdown + 1, rerun_cell(page, profile, params, parameters))
    return nb


# ----- progress in the terminal -------------------------------------------------------------
class PageProgress:
    """Shows a page's runs while its notebook trains them (in the notebook's worker processes):
    the head line of :class:`Board` (done, running, ETA), one line per run in training with its
    step, and a line for each run that finishes."""

    def __init__(self, page: str, cfgs, poll: float = 2.0):
        self.planned = plan(cfgs)
        todo = [p.cfg for p in self.planned if p.status != "finished"]
        self.board = Board(self.planned, default_workers(todo) if todo else 1, title=page)
        self.poll, self._stop = poll, threading.Event()
        self._finished = {p.cfg.key() for p in self.planned if p.status == "finished"}
        self.cached = len(self._finished)
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _update(self, force: bool = False) -> None:
        running = {}
        for p in self.planned:
            if p.cfg.key() in self._finished:  # verified once; never re-read every poll
                continue
            status = run_folder(p.cfg).status()
            if status == "finished" and p.cfg.key() not in self._finished:
                self._finished.add(p.cfg.key())
                self.board.note(f"  done  {describe(p.cfg)}")
            elif status == "locked":
                running[p.cfg.key()] = p.cfg
        self.board.show(self.board.render(running, len(self._finished), 0, None), force=force)

    def _watch(self) -> None:
        while not self._stop.wait(self.poll):
            self._update()

    def __enter__(self) -> PageProgress:
        if len(self._finished) < len(self.planned):
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
            self._update(force=True)


def train_first(cfgs: list, poll: float = 2.0) -> set[str]:
    """Train every run the pages will read before the first page executes, longest first, in one
    pool of workers (:func:`stssl.runs.get_runs`). Page by page, each page's pool started anew
    (~6 s of imports per worker) and a core sat idle while the page's last run finished; here
    the workers stay busy across pages and the last run to finish is a short one. Returns the keys
    of the runs it trained (the others were in the cache)."""
    planned = sorted(plan(cfgs), key=lambda p: -(p.seconds_left or 0))
    todo = [p.cfg for p in planned if p.status != "finished"]
    print(f"runs: {len(planned)} for the pages, {len(planned) - len(todo)} cached", flush=True)
    if todo:
        with PageProgress("runs", todo, poll):
            get_runs(todo, progress=False)
    return {c.key() for c in todo}


def execute_notebooks(
    profile: str = "cpu",
    data_root: str | None = None,
    eurosat_root: str | None = None,
    seeds=None,
    out: str | Path = "book/results",
    names: list[str] | None = None,
) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "build-info.md").write_text(build_info(profile, data_root, eurosat_root, seeds))
    total, stats = time.perf_counter(), {}
    every = distinct(
        [c for page in pages(names or ["all"]) for c in page_configs(page, profile, data_root, eurosat_root, seeds)]
    )
    trained = train_first(every)
    training = time.perf_counter() - total
    order = [page.name for page in pages(names or ["all"])]
    workers = min(page_workers(), len(order))
    threads = max(1, usable_cores() // workers) if workers > 1 else None  # each side-by-side kernel's share
    jobs = [(name, profile, data_root, eurosat_root, seeds, out, trained, threads) for name in order]

    def executed(page: PageStats) -> None:
        stats[page.name] = page

    with signals.stop_on_signals():
        if workers > 1:
            in_workers(_execute_page, jobs, workers, threads, executed)
        else:
            for job in jobs:
                executed(_execute_page(job))
    elapsed = time.perf_counter() - total
    (out / "execution.md").write_text(
        execution_page([stats[n] for n in order], len(every), len(trained), training, elapsed, machine(profile, seeds))
    )
    spent = {"training": training, **{n: stats[n].page_seconds for n in order}}
    where = ", ".join(f"{name} {format_duration(s)}" for name, s in sorted(spent.items(), key=lambda kv: -kv[1]))
    print(f"all pages executed in {format_duration(elapsed)} ({where})", flush=True)


def page_workers() -> int:
    """How many pages execute at once, once every run is trained: one per core, up to two. A page is
    mostly its kernel's start and one thread of Python, so two side by side take ~half the time."""
    return max(1, min(2, usable_cores()))


def _execute_page(job: tuple) -> PageStats:
    """Execute one page's notebook into ``out``. Pages side by side (in worker processes) give their
    kernel ``threads``, a share of the cores: two kernels of two threads each on two cores wait on
    each other."""
    import papermill

    name, profile, data_root, eurosat_root, seeds, out, trained, threads = job
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    (page,) = pages([name])
    params = notebook_params(page, profile, data_root, eurosat_root, seeds)
    cfgs = distinct(page_configs(page, profile, data_root, eurosat_root, seeds))
    progress = PageProgress(page.name, cfgs)
    print(f"{page.name}: {len(cfgs)} runs, {progress.cached} cached", flush=True)
    start = time.perf_counter()
    # a figures-only notebook (the GeoSynth page's) writes its figures for a prose page; its executed copy
    # is kept only when it fails, so that every notebook in book/results/ is a page of the TOC
    run_params = dict(params, out_dir=str((out / "figures").resolve())) if page.figures_only else params
    target = out / f"{page.name}.ipynb"
    shutil.rmtree(out / "downloads" / page.name, ignore_errors=True)  # its tables' and figures' files, anew
    try:
        with progress, _page_env(None if page.figures_only else target.resolve()):
            nb = papermill.execute_notebook(
                str(NOTEBOOKS / f"{page.name}.ipynb"),
                str(target),
                parameters=run_params,
                cwd=str(NOTEBOOKS),
                progress_bar=False,
            )
    except papermill.PapermillExecutionError as err:
        raise SystemExit(
            f"page {page.name} failed ({err.ename}: {err.evalue.splitlines()[0] if err.evalue else ''}); "
            f"the executed notebook is {target}"
        ) from None
    if page.figures_only:
        target.unlink()
    else:
        nbformat.write(present(nb, page, profile, params), target)
    seconds = time.perf_counter() - start
    print(f"{page.name}: done in {seconds:.0f} s", flush=True)
    return PageStats.of(page, cfgs, trained, seconds)


@contextmanager
def _page_env(page: Path | None):
    """``STSSL_BOOK_PAGE`` names the executed page while its kernel runs (the kernel inherits it):
    :mod:`stssl.report.downloads` writes the page's files beside it. ``None``: unset."""
    old = os.environ.pop(PAGE_ENV, None)
    if page is not None:
        os.environ[PAGE_ENV] = str(page)
    try:
        yield
    finally:
        os.environ.pop(PAGE_ENV, None)
        if old is not None:
            os.environ[PAGE_ENV] = old


# ----- the execution statistics page ------------------------------------------------------
@dataclass
class PageStats:
    """One page of a build: the runs it reads, how many of them this build trained, their training
    time (each run's own, from its metrics, wherever it was trained) and the page's own time."""

    name: str
    runs: int
    trained: int
    train_seconds: float
    page_seconds: float
    prose: bool = False  # its figures illustrate a prose page (GeoSynth's)

    @classmethod
    def of(cls, page: Page, cfgs: list, trained: set[str], page_seconds: float) -> PageStats:
        seconds = 0.0
        for cfg in cfgs:
            folder = run_folder(cfg)
            if folder.status() == "finished":
                seconds += float(folder.read()[1].get("train_seconds") or 0.0)
        return cls(
            page.name, len(cfgs), sum(c.key() in trained for c in cfgs), seconds, page_seconds, page.figures_only
        )


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; elsewhere the platform's own word for it)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine(profile: str, seeds=None) -> dict[str, str]:
    """What built the book: the machine (CPU, cores, GPU), the versions, the commit, profile and date."""
    import torch

    gpus = (
        [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    )
    commit = _git("rev-parse", "--short=12", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    return {
        "CPU": f"{cpu_model()}, {usable_cores()} of {os.cpu_count()} cores usable",
        "GPU": ", ".join(gpus) if gpus else "none",
        "torch": torch.__version__,
        "stssl": stssl.__version__,
        "Python": platform.python_version(),
        "operating system": platform.platform(),
        "commit": (f"`{commit}`" + (" with uncommitted changes" if dirty else "")) if commit else "unknown (no git)",
        "profile": f"`{profile}`",
        "seeds": "each page's own" if seeds is None else f"{seeds} on every page (`SEEDS={seeds}`)",
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def execution_page(
    stats: list[PageStats], runs: int, trained: int, training: float, elapsed: float, facts: dict[str, str]
) -> str:
    """The Markdown of the execution statistics page (``book/results/execution.md``)."""
    minutes = format_duration
    rows = [
        f"| {{doc}}`{'/book/geosynth' if p.prose else p.name}` | {p.runs} | {p.trained} | {p.runs - p.trained} "
        f"| {minutes(p.train_seconds) if p.runs else '–'} | {minutes(p.page_seconds)} |"
        for p in stats
    ]
    lines = [
        "# Execution statistics",
        "",
        "How this book was built: for each page, the runs it reads, how many of them this build trained and",
        "how many it read from the run cache, the training time of its runs (each run's own, as its",
        "`metrics.json` records it, wherever and whenever it was trained) and the time its notebook took to",
        "execute. Pages share runs (Table 1's FixMatch + ST-SSL is also Table 2's row a, Table 3's and",
        "Figures 4 to 6'), so a run is counted on every page that reads it; the build trains each once,",
        "all of them before the first page executes.",
        "",
        "| page | runs | trained in this build | read from the cache | training time of its runs | page time |",
        "|---|--:|--:|--:|--:|--:|",
        *rows,
        f"| **the build** | {runs} distinct | {trained} | {runs - trained} | {minutes(training)} (training, "
        f"wall clock) | {minutes(elapsed)} (in all) |",
        "",
        "## The machine and the software",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in facts.items()),
        "",
        "The HTML build that follows (`jupyter-book build`, then `stssl check-book`) is not counted.",
        "",
    ]
    return "\n".join(lines)


# ----- the check over the built HTML --------------------------------------------------------
class _Outputs(HTMLParser):
    """The text inside a page's cell outputs and the ``src`` of its images."""

    def __init__(self):
        super().__init__()
        self.images: list[str] = []
        self.outputs: list[str] = []
        self._depth = 0  # >0 inside a cell output's <div>

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src") or "")
        if tag == "div":
            if self._depth:
                self._depth += 1
            elif "cell_output" in (attrs.get("class") or "").split():
                self._depth = 1
                self.outputs.append("")

    def handle_endtag(self, tag):
        if tag == "div" and self._depth:
            self._depth -= 1

    def handle_data(self, data):
        if self._depth:
            self.outputs[-1] += data


ERROR_IN_OUTPUT = re.compile(r"Traceback \(most recent call last\)|^\w*(Error|Exception): ", re.M)


def toc_files(toc: Path) -> list[str]:
    """The documents ``_toc.yml`` lists, root first (paths without their suffix)."""
    data = yaml.safe_load(toc.read_text())
    found = [data["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: v for k, v in data.items() if k != "root"})
    return found


def check_html(html: Path, source: Path) -> list[str]:
    """Problems of the book built into ``html`` from ``source`` (the folder of ``_toc.yml``): a page
    of ``book/`` missing from the TOC, a TOC page not built, an image missing or empty, a cell
    output holding an error or a traceback. Empty: the book is sound."""
    problems = []
    listed = toc_files(source / "_toc.yml")
    included = set()  # files that a listed page includes (book/results/build-info.md)
    for md in (source / f"{doc}.md" for doc in listed):
        if md.exists():
            included |= {(md.parent / m).resolve() for m in re.findall(r"\{include\}\s+(\S+)", md.read_text())}
    for path in sorted((source / "book").rglob("*")):
        if path.suffix in (".md", ".ipynb") and ".ipynb_checkpoints" not in path.parts:
            doc = path.relative_to(source).with_suffix("").as_posix()
            if doc not in listed and path.resolve() not in included:
                problems.append(f"{path.relative_to(source)}: not in _toc.yml")
    for doc in listed:
        page = html / f"{doc}.html"
        if not page.exists():
            problems.append(f"{doc}: listed in _toc.yml but not built ({page.relative_to(html)} missing)")
            continue
        parser = _Outputs()
        parser.feed(page.read_text(errors="replace"))
        for src in parser.images:
            if src.startswith("data:"):
                if len(src.partition(",")[2]) < 100:
                    problems.append(f"{doc}: an empty inline image")
                continue
            target = (page.parent / src.split("#")[0].split("?")[0]).resolve()
            if re.match(r"\w+://", src) or not target.is_file() or target.stat().st_size == 0:
                problems.append(f"{doc}: image {src} missing or empty")
        for text in parser.outputs:
            match = ERROR_IN_OUTPUT.search(text)
            if match:
                line = text[match.start() :].strip().splitlines()[0][:200]
                problems.append(f"{doc}: a cell output holds an error: {line}")
    return problems
