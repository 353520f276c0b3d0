# Two commands do everything on a fresh machine: `make test` and `make book`.
# The virtual environment is created when missing and reinstalled only when pyproject.toml changes.
PY      := .venv/bin/python
STAMP   := .venv/.installed-stamp
CFFCONVERT := .venv/cffconvert/bin/cffconvert
RESULTS := book/results
# The book in any profile: `make book PROFILE=paper DATA_ROOT=/data/BigEarthNet-v1.0 EUROSAT_ROOT=/data/eurosat`
# (train its runs first with `python -m stssl sweep all --profile paper ...`; the book then reads them).
# SEEDS=3 gives every page three seeds instead of its own default.
PROFILE ?= cpu
DATA_ROOT ?=
EUROSAT_ROOT ?=
SEEDS ?=
BOOK_ARGS := --profile $(PROFILE) $(if $(DATA_ROOT),--data-root $(DATA_ROOT)) \
	$(if $(EUROSAT_ROOT),--eurosat-root $(EUROSAT_ROOT)) $(if $(SEEDS),--seeds $(SEEDS))

.PHONY: test book notebooks html publish clean install gpu-check

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[book,test]'
	$(MAKE) --no-print-directory $(CFFCONVERT)
	touch $(STAMP)

# CITATION.cff's validator (tests/test_citation.py) in a venv of its own: cffconvert pins jsonschema < 4,
# which JupyterLab's server cannot run with
$(CFFCONVERT):
	python3 -m venv .venv/cffconvert
	.venv/cffconvert/bin/pip install --quiet cffconvert==2.0.0

# The house rules first (seconds): the floors of the package (pyproject.toml, [tool.importlinter]) and
# its style; then the tests, in two processes (a test file each: 1.5x sooner on 2 cores, measured).
test: $(STAMP)
	$(dir $(PY))lint-imports
	$(dir $(PY))ruff check stssl tests benchmarks
	$(dir $(PY))ruff format --check stssl tests benchmarks
	$(PY) -m pytest -n 2 --dist loadfile

# The paper's training path measured on one GPU in minutes (benchmarks/RESULTS-gpu.md), or without a
# GPU the same stages as a CPU miniature (benchmarks/RESULTS-gpu-miniature.md). On a machine with its
# own torch and no registry (the GPU machine): make gpu-check PY=python3
gpu-check:
	command -v $(PY) >/dev/null || $(MAKE) install
	PYTHONPATH=. $(PY) benchmarks/gpu_check.py

# Train every page's runs (stssl/experiments/__init__.py lists the pages), then execute the notebooks,
# two at a time, into book/results/ (they only read the runs); then build the HTML offline.
notebooks: $(STAMP)
	$(PY) -m stssl book $(BOOK_ARGS) --out $(RESULTS)

book: notebooks
	@$(MAKE) --no-print-directory html

# The HTML of the executed notebooks and the prose, strict: any Sphinx warning (a broken reference or
# citation, a missing image, an unknown role) fails the build, after listing them all; then the built
# HTML is checked (stssl/book.py: check_html).
html: $(STAMP)
	$(dir $(PY))jupyter-book build . --all -W -n --keep-going
	$(PY) -m stssl check-book _build/html
	@echo "Book: _build/html/index.html"

# The built HTML (make book first) to any static host: a folder (a web server's root, a checkout of
# a gh-pages branch), e.g. make publish DEST=/var/www/stssl; GitHub Pages: .github/workflows/book.yml.
publish:
	@test -n "$(DEST)" || { echo "make publish DEST=<folder>: where the HTML goes"; exit 2; }
	@test -f _build/html/index.html || { echo "no built book in _build/html: run make book first"; exit 2; }
	mkdir -p $(DEST)
	cp -R _build/html/. $(DEST)/
	@echo "Published to $(DEST)"

clean:
	rm -rf _build $(RESULTS)
