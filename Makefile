# bearerguard — developer commands. Needs only python3 and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# tox finds the other CPython versions (3.10, 3.12, 3.13) that pyenv keeps off PATH
PYENV_BINS := $(shell ls -d $$HOME/.pyenv/versions/3.1[0-3]*/bin 2>/dev/null | tr '\n' ':')

.PHONY: test demo docs matrix lint typing bench bench-http bench-profile bench-protocols loadtest clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -U "pip>=25.1"
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[all]" --group test --group integrations --group lint --group typing --group bench --group docs
	# Debian's redis-server for the shared-store tests (root only; never fails the install)
	command -v redis-server >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; } || true
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench example_projects
	$(BIN)/ruff format --check src tests bench example_projects
	$(BIN)/lint-imports

typing: $(STAMP)
	$(BIN)/mypy --strict src

test: lint typing
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/python -m example_projects.demo

# The documentation site (mkdocs.yml, docs/) into site/; --strict: every warning is an error.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

matrix: $(STAMP)
	$(BIN)/python -m pip install -q --disable-pip-version-check "tox>=4.22"
	PATH="$(PYENV_BINS)$$PATH" $(BIN)/tox run-parallel -p 2

bench: $(STAMP)
	$(BIN)/python -m bench.verify

bench-http: $(STAMP)
	$(BIN)/python -m bench.http_bench

bench-profile: $(STAMP)
	$(BIN)/python -m bench.profile

# DPoP proofs and introspected tokens per request (starts its own redis-server on 127.0.0.1)
bench-protocols: $(STAMP)
	$(BIN)/python -m bench.protocols

loadtest: $(STAMP)
	$(BIN)/python -m bench.loadtest

clean:
	rm -rf $(VENV) .tox build dist site .mypy_cache .ruff_cache .pytest_cache
