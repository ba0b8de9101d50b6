# Video CI/CD pipeline on Apache Airflow 3.3 — see README.md.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
AIRFLOW := scripts/airflow.sh

.PHONY: help setup system-deps venv demo up down up-cluster down-cluster settings test test-unit test-integration approve reject review edit bench clean

help:
	@echo "make demo   - set up, start Airflow, run the pipeline on a generated product tour, stop"
	@echo "make test   - set up and run the whole test suite"
	@echo "make up / make down - start / stop Airflow for the UI (http://127.0.0.1:8080, admin/admin)"
	@echo "make up-cluster / make down-cluster - the same on Postgres + Redis + Celery workers"
	@echo "make test-integration - that topology under load and failures"
	@echo "make review VIDEO=id TENANT=t / make approve ... / make reject ... REASON='...' / make edit ... SET='s02=...'"
	@echo "make bench  - benchmarks (render, analyze, PySceneDetect, MoviePy, peak RSS, e2e trigger -> published under its own Airflow) -> benchmarks/results.json"

setup: system-deps venv

system-deps:
	@scripts/system_deps.sh

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python -q --compile-bytecode -r requirements.txt
	touch $@

demo: setup
	@set -e; trap '$(AIRFLOW) down' EXIT; \
	start=$$(date +%s); \
	$(AIRFLOW) up; \
	. scripts/env.sh && python scripts/demo.py; \
	echo "make demo took $$(( $$(date +%s) - start )) s (after setup)"

up: setup
	$(AIRFLOW) up

down:
	$(AIRFLOW) down

up-cluster: setup
	scripts/cluster.sh up

down-cluster:
	scripts/cluster.sh down

settings: venv
	. scripts/env.sh && airflow db migrate >/dev/null && python scripts/load_settings.py airflow_settings.yaml

review: venv
	. scripts/env.sh && python scripts/review.py show --tenant $(TENANT) --video $(VIDEO)

approve: venv
	. scripts/env.sh && python scripts/review.py approve --tenant $(TENANT) --video $(VIDEO) $(if $(SET),--set "$(SET)")

reject: venv
	. scripts/env.sh && python scripts/review.py reject --tenant $(TENANT) --video $(VIDEO) --reason "$(REASON)"

edit: venv
	. scripts/env.sh && python scripts/review.py edit --tenant $(TENANT) --video $(VIDEO) --set "$(SET)"

test: venv
	@scripts/system_deps.sh --test
	. scripts/env.sh && python -m pytest $(PYTEST_ARGS)

test-unit: setup
	. scripts/env.sh && python -m pytest -m "not scheduler and not integration" $(PYTEST_ARGS)

test-integration: setup
	. scripts/env.sh && python -m pytest -m integration tests/integration --durations=0 $(PYTEST_ARGS)

# PySceneDetect gets its own venv: its OpenCV wheel must not share a venv with opencv-python-headless.
SCENEDETECT := benchmarks/.venv-scenedetect
bench: setup
	test -x $(SCENEDETECT)/bin/python || { $(PY) -m venv $(SCENEDETECT) && \
	  $(SCENEDETECT)/bin/python -m pip install -q scenedetect-headless==0.7.2; }
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/speech.py > benchmarks/speech.json
	$(BIN)/python benchmarks/screen_text.py > benchmarks/screen_text.json
	$(BIN)/python benchmarks/narration.py > benchmarks/narration.json
	@echo "speech (Piper WER, alignment onsets, ASR speed): benchmarks/speech.json"
	@echo "screen text (OCR speed and quality): benchmarks/screen_text.json"
	@echo "narration on the generated tour (pages named, tags, caption onsets): benchmarks/narration.json"

clean: down
	rm -rf .airflow .data test-output
