# The two commands of the README. Both set everything up first (idempotent, fast when done).
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eo pipefail -c
ENV := source scripts/env.sh

.PHONY: setup demo test lint clean
setup:
	bash scripts/setup.sh

demo: setup  ## run the estimator on the bundled sample bag, record, render, summarise
	$(ENV); python -m diffpose_ros.tools.demo $(DEMO_ARGS)

test: setup  ## the full test suite (what CI runs)
	$(ENV); bash scripts/run_tests.sh $(PYTEST_ARGS)

lint:
	$(ENV); ruff check .

clean:
	rm -rf build install log
