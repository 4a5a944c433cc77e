# emotalk_ros: the two commands are `make demo` and `make test` (see README.md).
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= out/demo

.PHONY: setup demo test model bench lint clean

setup:
	@bash tools/install.sh

demo: setup
	$(PY) -m emotalk_ros.ros.demo --out $(OUT) $(if $(MIC),--mic,)

test: setup
	@bash tools/run_tests.sh

model: setup
	bash tools/make_model.sh

bench: setup
	$(PY) -m emotalk_ros bench

lint: setup
	$(VENV)/bin/ruff check --target-version py310 emotalk_ros launch test

clean:
	rm -rf $(VENV) build install log out .pytest_cache
