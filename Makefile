# Two commands do everything on a fresh machine: `make test` and `make book`.
# The virtual environment is created when missing and reinstalled only when pyproject.toml changes.
PY      := .venv/bin/python
STAMP   := .venv/.installed-stamp
RESULTS := book/results
# In reading order: later pages read the runs earlier ones trained (the run cache), and the
# summary reads them all. tests/test_notebooks.py checks that this list names every notebook.
NOTEBOOKS := geosynth table1 table2 table3 table4 figure3 figure4 figure5 figure6 context explore summary
PROFILE ?= cpu

.PHONY: test book notebooks clean install gpu-check

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[book,test]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

# The paper's training path measured on one GPU in minutes (benchmarks/RESULTS-gpu.md), or without a
# GPU the same stages as a CPU miniature (benchmarks/RESULTS-gpu-miniature.md). On a machine with its
# own torch and no registry (the GPU machine): make gpu-check PY=python3
gpu-check:
	command -v $(PY) >/dev/null || $(MAKE) install
	$(PY) benchmarks/gpu_check.py

# Execute every notebook (profile $(PROFILE)) into book/results/, then build the HTML offline.
notebooks: $(STAMP)
	mkdir -p $(RESULTS)
	for nb in $(NOTEBOOKS); do \
		echo "notebooks/$$nb.ipynb"; \
		$(PY) -m papermill "notebooks/$$nb.ipynb" "$(RESULTS)/$$nb.ipynb" -p profile $(PROFILE) --cwd notebooks --log-level WARNING || exit 1; \
	done

book: notebooks
	.venv/bin/jupyter-book build . --keep-going
	@echo "Book: _build/html/index.html"

clean:
	rm -rf _build $(RESULTS)
