# Two commands on a fresh machine: `make demo` (the weekly job on embedded defaults) and `make test`.
# Both create the virtual environment and install civrisk on first use.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-pg lint bench

$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/civrisk demo

test: $(VENV)/.installed
	$(PY) -m pytest -q

# the suite with the PostgreSQL params required: a throwaway cluster on loopback, stopped afterwards
test-pg: $(VENV)/.installed
	@d=$$(mktemp -d /tmp/civrisk-pg.XXXXXX); trap '.ci/postgres stop "$$d"; rm -rf "$$d"' EXIT; \
	url=$$(.ci/postgres start "$$d"); \
	CIVRISK_TEST_PG_URL=$$url CIVRISK_TEST_PG_REQUIRED=1 $(PY) -m pytest -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

bench: $(VENV)/.installed
	$(PY) -m benchmarks.bench_pipeline
