# citysense — the two commands of the quick start, and their parts.
#   make demo   set everything up, then run simulators + ingest + API (Ctrl-C stops them)
#   make test   set everything up, then lint, type-check and run the whole test suite
# Both install what is missing on a fresh Debian/Ubuntu machine (as root or with sudo).
# With CITYSENSE_DATABASE_URL / CITYSENSE_MQTT_URL set, those services are used instead.

VENV := .venv
BIN := $(VENV)/bin
CITYSENSE := $(BIN)/citysense
PYTEST_ARGS ?=

.PHONY: demo test bootstrap services migrate lint unit deployment integration down clean lock upgrade

demo: services migrate
	@bash scripts/demo.sh

test: services lint
	$(BIN)/pytest $(PYTEST_ARGS)

bootstrap:
	@bash scripts/bootstrap.sh

services: bootstrap
	@$(CITYSENSE) services up

migrate: services
	@$(CITYSENSE) migrate

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/mypy

unit: bootstrap
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

deployment: bootstrap
	$(BIN)/pytest tests/deployment $(PYTEST_ARGS)

integration: services
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

# The lock files, from pyproject.toml (commit them with it):
#   make lock                 add what pyproject.toml gained; every existing pin stays
#   make upgrade              every dependency to its newest allowed release
#   make upgrade PKG=fastapi  only that package (and what it needs), Dependabot-style
PKG ?=
LOCK_FLAGS = --universal --python-version 3.11 --quiet
lock: bootstrap
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) $(UV_UPGRADE) -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev $(LOCK_FLAGS) $(UV_UPGRADE) -o requirements-dev.lock

upgrade: UV_UPGRADE = $(if $(PKG),--upgrade-package $(PKG),--upgrade)
upgrade: lock

down:
	@$(CITYSENSE) services down

clean: down
	rm -rf $(VENV) test-artifacts
