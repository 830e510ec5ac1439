# The two commands of the README. Both set everything up from nothing on first use.
.PHONY: demo test bootstrap

PYTEST_WORKERS ?= 2

bootstrap:
	@bash scripts/bootstrap.sh

# Synthesise the demo cohort (if absent) and run the main job on it.
demo: bootstrap
	@bash scripts/demo.sh

# Lint, check formatting, then run the whole test suite; .ci/run calls exactly this.
test: bootstrap
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup
