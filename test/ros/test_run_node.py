"""``run_node``'s shutdown boundary with real rclpy, in-process (no DDS traffic): an error out
of ``spin`` after the context was shut down (Ctrl-C racing the executor's next wait set, as
seen on Jazzy) is a clean stop; the same error while the context is live is not swallowed."""

import pytest

rclpy = pytest.importorskip("rclpy")

from ros_harness import new_domain  # noqa: E402

from emotalk_ros.ros.run import run_node  # noqa: E402


class _Node:
    def __init__(self):
        from rclpy.node import Node

        self.node = Node("run_node_probe")
        self.exit_code = 0

    def destroy_node(self):
        self.node.destroy_node()


def _args():
    return ["--ros-args", "-r", "__ns:=/run_node_test"]


def test_an_error_after_shutdown_is_a_clean_stop():
    def spin(node):
        rclpy.shutdown()          # what the SIGINT handler does
        raise RuntimeError("failed to initialize wait set: the given context is not valid")

    assert run_node(_Node, "run_node_probe", _args(), spin=spin,
                    domain_id=new_domain()) == 0
    assert not rclpy.ok()


def test_an_error_while_the_context_is_live_propagates():
    def spin(node):
        raise RuntimeError("a real failure")

    with pytest.raises(RuntimeError, match="a real failure"):
        run_node(_Node, "run_node_probe", _args(), spin=spin, domain_id=new_domain())
    assert not rclpy.ok()        # still shut down on the way out
