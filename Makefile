# emotalk_ros: the two commands are `make demo` and `make test` (see README.md).
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= out/demo

.PHONY: setup demo test model bench lint docs clean

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
	$(VENV)/bin/ruff check emotalk_ros test tools launch setup.py
	$(PY) tools/gen_docs.py --check

docs: setup
	$(PY) tools/gen_docs.py

clean:
	rm -rf $(VENV) build install log out .pytest_cache
