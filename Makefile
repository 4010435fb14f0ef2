# Two commands on a fresh machine: `make demo` (the weekly job on embedded defaults) and `make test`.
# Both create the virtual environment and install civrisk on first use.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install demo test test-pg lint bench translations

$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

install: $(VENV)/.installed

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

# Messages planners read (report, CAP texts, CLI summary): extract them, merge them into each language's
# catalogue (translate the new or changed entries in publish/render/locale/<lang>/LC_MESSAGES/civrisk.po),
# then compile the .mo files that ship in the package (committed: a plain pip install needs no build step).
LOCALE := publish/render/locale
translations: $(VENV)/.installed
	$(VENV)/bin/pybabel extract -F babel.cfg --add-location=file --sort-by-file --omit-header -o $(LOCALE)/civrisk.pot .
	$(VENV)/bin/pybabel update -i $(LOCALE)/civrisk.pot -d $(LOCALE) -D civrisk --no-fuzzy-matching
	$(VENV)/bin/pybabel compile -d $(LOCALE) -D civrisk --statistics
