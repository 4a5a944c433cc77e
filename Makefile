# emotalk_ros: the two commands are `make demo` and `make test` (see README.md).
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= out/demo

.PHONY: setup demo test test-jazzy test-colcon ci model bench lint docs clean

setup:
	@bash tools/install.sh

demo: setup
	$(PY) -m emotalk_ros.ros.demo --out $(OUT) $(if $(MIC),--mic,)

test: setup
	@bash tools/run_tests.sh

# the real-DDS node tests on ROS 2 Jazzy's rclpy (.venv-jazzy, built once and cached)
test-jazzy: setup
	@bash tools/install_jazzy.sh
	@VENV=.venv-jazzy TESTS=test/ros bash tools/run_tests.sh

# the README's ROS 2 path: colcon build, source the workspace, colcon test
test-colcon: setup
	@bash tools/colcon_test.sh

# what CI runs (.ci/run): test, test-jazzy and test-colcon, each timed
ci:
	@bash .ci/run

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
	rm -rf $(VENV) .venv-jazzy build install log out .pytest_cache
