# `make run` and `make test` are the whole set-up: each creates .venv when missing, installs
# exactly the versions pinned (with hashes) in requirements-lock.txt, then runs.
# `make lock` re-resolves the newest versions pyproject.toml allows, rewrites the lock and tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements-lock.txt
# The resolver that writes the lock; only `make lock` needs it, so it stays out of the lock.
UV_VERSION := 0.13.9
# Extras locked and installed beside the runtime: the test suite and the benchmarks.
LOCK_EXTRAS := --extra test --extra bench
# The build backend ([build-system] requires), locked too, so installing the project itself
# downloads nothing unpinned.
BUILD_REQUIRES = $(BIN)/python -c 'import tomllib; \
	print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")'

.PHONY: run test lock lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# --no-deps + --require-hashes: only what the lock names, byte for byte; `pip check` then fails
# if the lock ever missed a dependency. The project goes in editable without build isolation,
# so its build uses the locked setuptools instead of fetching the newest one.
$(STAMP): $(BIN)/python $(LOCK) pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes \
		--no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
		--no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/coverage-bot start

test: $(STAMP)
	$(BIN)/python -m pytest -q

lock: $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check 'uv==$(UV_VERSION)'
	$(BUILD_REQUIRES) | $(BIN)/uv pip compile pyproject.toml - $(LOCK_EXTRAS) \
		--upgrade --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command 'make lock' --output-file $(LOCK)
	rm -f $(STAMP)
	$(MAKE) test

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) data .pytest_cache
