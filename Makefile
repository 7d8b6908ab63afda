# Every target builds its own virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test test-slow demo bench lint format clean

$(STAMP): pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -m "not slow" -q

test-slow: $(STAMP)
	$(PY) -m pytest -m slow -q

demo: $(STAMP)
	$(PY) -m sarssm demo --out runs/demo

bench: $(STAMP)
	$(PY) benchmarks/reference_processor.py --out benchmarks/results
	$(PY) benchmarks/models.py --out benchmarks/results
	$(PY) benchmarks/scan.py --out benchmarks/results
	$(PY) benchmarks/streaming.py --out benchmarks/results
	$(PY) benchmarks/large_product.py --out benchmarks/results
	@if [ -d runs/demo/students/demo-tiny ]; then \
		$(PY) benchmarks/quantization.py --out benchmarks/results; \
	else echo "benchmarks/quantization.py needs the demo's trained student: make demo first"; fi

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
