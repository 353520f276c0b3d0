"""The book's HTML as a reader's browser gets it, with no network: a Sphinx extension (``_config.yml``,
``sphinx.extra_extensions``) that jupyter-book loads when it builds the book.

- **Math, offline.** Sphinx loads MathJax from a CDN, so an offline or firewalled reader saw
  ``\\(\\text{lat}/90\\)`` as raw text. MathJax 3 comes with the PyPI package
  ``django-static-mathjax`` (MathJax's own files, nothing else; no Django needed to read them): the
  parts a page uses (``tex-mml-chtml.js``, its fonts, its TeX extensions, its menu) are copied into
  the build (``_static/mathjax/``) and ``mathjax_path`` points there; Sphinx's and MyST's MathJax
  settings are left as they are.
- **Tables that fit.** pandas' styled tables carry no class of the theme's: their cells had no
  padding (Figure 4's counts ran together: ``368110110``) and a wide table ran past the column's
  right edge. The book's stylesheet (``_static/stssl.css``) pads them, lets their headers wrap and
  scrolls the rare table that is still wider than the column.
- **No error in the browser's console.** A favicon (a browser asks for one); the theme's colour
  mode set (pydata-sphinx-theme logs an error on a first visit without one); each script once
  (sphinx-thebe adds its configuration script twice in a jupyter-book build, and the second
  ``const THEBE_JS_URL`` threw on every page).

The browser tests (``tests/test_notebooks.py``) check each of these in Chromium.
"""

from __future__ import annotations

import shutil
from pathlib import Path

# MathJax 3's combined TeX + MathML input, HTML output, and what it loads on demand (the speech
# engine, sre/, 4 MB, loads only when a reader turns speech on in MathJax's menu, and is left out)
MATHJAX_FILES = ("tex-mml-chtml.js", "input", "output", "ui", "a11y", "adaptors")

CSS = """\
/* The book's tables (stssl/bookhtml.py): pandas' styled tables carry none of the theme's classes. */
.cell_output .output table {
  border-collapse: collapse;
  font-size: 0.8rem;
  line-height: 1.3;
  margin: 0.4rem 0 0.2rem 0;
  max-width: 100%;
}
.cell_output .output table caption {
  caption-side: top;
  text-align: left;
  font-size: 0.85rem;
  padding-bottom: 0.3rem;
}
.cell_output .output table th,
.cell_output .output table td {
  padding: 0.2rem 0.55rem;
  border-bottom: 1px solid var(--pst-color-border, #ddd);
  vertical-align: top;
}
.cell_output .output table thead th {
  vertical-align: bottom;
  text-align: right;
}
.cell_output .output table td {
  text-align: right;
  font-variant-numeric: tabular-nums;
}
.cell_output .output table tbody th {
  text-align: left;
}
/* a table still wider than the column scrolls inside it instead of running past its edge */
.cell_output .output.text_html {
  overflow-x: auto;
  max-width: 100%;
}
"""

FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<circle cx="16" cy="16" r="14" fill="#2c7fb8"/>'
    '<path d="M6 12c6 2 8-3 13-1s5 6 8 5M5 20c5-1 9 3 14 1s6-4 9-2" stroke="#f4f1ea" stroke-width="2.5" fill="none"/>'
    "</svg>"
)


def mathjax_files() -> Path:
    """MathJax 3's browser build (``es5/``) as ``django-static-mathjax`` installs it."""
    import importlib.util

    spec = importlib.util.find_spec("mathjax")  # its package imports nothing of Django's
    folder = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5" if spec else None
    if folder is None or not (folder / "tex-mml-chtml.js").is_file():
        raise RuntimeError("MathJax not found: pip install django-static-mathjax (make install does)")
    return folder


def _static_folder(app) -> Path:
    """A folder the build copies into ``_static/``: the stylesheet, the favicon and MathJax."""
    folder = Path(app.doctreedir).parent / "stssl-static"
    mathjax = folder / "mathjax"
    source = mathjax_files()
    if not (mathjax / "tex-mml-chtml.js").is_file():  # once per build folder
        shutil.rmtree(mathjax, ignore_errors=True)
        mathjax.mkdir(parents=True)
        for name in MATHJAX_FILES:
            path = source / name
            (shutil.copytree if path.is_dir() else shutil.copy2)(path, mathjax / name)
    (folder / "stssl.css").write_text(CSS)
    (folder / "favicon.svg").write_text(FAVICON)
    return folder


def _configure(app, config) -> None:
    config.mathjax_path = "mathjax/tex-mml-chtml.js"  # relative: under _static/
    config.html_context = {**(config.html_context or {}), "default_mode": "light"}


def _add_static(app) -> None:
    if app.builder.format != "html":
        return
    folder = _static_folder(app)
    app.config.html_static_path = [*app.config.html_static_path, str(folder)]
    app.config.html_favicon = str(folder / "favicon.svg")


def _each_script_once(app, pagename, templatename, context, doctree) -> None:
    scripts, seen = context.get("script_files") or [], set()
    unique = []
    for script in scripts:
        # an inline script's file name is None or "" depending on who added it: the same script
        key = (str(getattr(script, "filename", script) or ""), repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    if len(unique) < len(scripts):
        context["script_files"] = unique


def setup(app):
    app.connect("config-inited", _configure)
    app.connect("builder-inited", _add_static)
    app.connect("html-page-context", _each_script_once, priority=900)
    app.add_css_file("stssl.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
