# dermkit: `make demo` and `make test` do all set-up on a fresh machine (Python 3.11).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install -q --disable-pip-version-check -c constraints.txt
OUT    ?= runs/demo
LEGACY := tf-keras segmentation-models efficientnet image-classifiers keras-applications

.PHONY: demo test install legacy lint bench plan clean

$(VENV)/.installed: setup.py pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip setuptools wheel
	$(PIP) -e ".[cpu,test]"
	touch $@

install: $(VENV)/.installed

# Legacy Keras 2 stack for interop tests only. tf-keras declares a dependency on the full `tensorflow`
# wheel, which must not land on top of tensorflow-cpu: hence --no-deps, versions from constraints.txt.
$(VENV)/.legacy: $(VENV)/.installed
	$(PIP) --no-deps $(LEGACY)
	touch $@

legacy: $(VENV)/.legacy

# Re-running resumes (finished rows are skipped); `make demo DEMO_ARGS=--overwrite` starts afresh.
demo: install
	$(PY) -m dermkit.cli demo --output $(OUT) $(DEMO_ARGS)

test: install legacy
	$(PY) -m ruff check dermkit tests examples benchmarks
	$(PY) -m pytest -m "not slow" --durations=15 --timeout=900 -q

# Every paper's full-scale rows measured on this machine (the first command a session with a GPU runs):
# runs/plan/<paper>/plan.md and plan.csv. `make plan PLAN_ARGS="--data /data/isic2017 --steps 5"`.
PLAN_OUT ?= runs/plan
plan: install
	for p in kawahara2018 goel2021 barata2020 bisla2019 codella2018; do \
	  $(PY) -m dermkit.cli plan $$p --output $(PLAN_OUT)/$$p --overwrite $(PLAN_ARGS) || exit 1; done

lint: install
	$(PY) -m ruff check dermkit tests examples benchmarks

bench: install
	for f in benchmarks/bench_*.py; do $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
