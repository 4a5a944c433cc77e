"""Concurrent test runs on one machine cannot cross-talk: every ROS domain id a run uses is
locked for it alone (also while its node processes live), and its nodes live under the run's
own namespace (test/conftest.py, test/ros_harness.py)."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("rclpy")

from conftest import DOMAIN_LOCK_DIR, ROOT, RUN_NAMESPACE, lock_fds  # noqa: E402
from ros_harness import Probe, RosProc, new_domain, run_ns  # noqa: E402

OTHER_RUN = """
import sys
sys.path.insert(0, {test!r})
import conftest
held = [int(a) for a in sys.argv[1:]]
got = {{conftest.allocate_domain() for _ in range(10)}}
print("SESSION", conftest.os.environ["ROS_DOMAIN_ID"], "GOT", sorted(got))
assert not (got | {{int(conftest.os.environ["ROS_DOMAIN_ID"])}}) & set(held), (got, held)
print("OK")
"""


def test_another_run_never_gets_a_domain_this_run_holds():
    mine = [new_domain() for _ in range(3)] + [int(os.environ["ROS_DOMAIN_ID"])]
    r = subprocess.run([sys.executable, "-c", OTHER_RUN.format(test=os.path.join(ROOT, "test")),
                        *map(str, mine)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "OK" in r.stdout, r.stdout + r.stderr
    for d in mine:                                   # the lock files name their owner
        with open(os.path.join(DOMAIN_LOCK_DIR, f"{d}.lock")) as f:
            assert f.read().strip() == str(os.getpid())


def test_nodes_live_in_the_run_namespace_and_hold_the_domain_lock(tmp_path):
    dom = new_domain()
    probe = Probe(dom)
    node = RosProc("emotalk_ros.ros.face_animator_node",
                   ["-p", "model.path:=baseline", "-r", "__ns:=/inner"], dom, str(tmp_path))
    try:
        probe.wait_for(lambda: ("face_animator", run_ns("inner"))
                       in probe.node.get_node_names_and_namespaces(), 30, "the node")
        names = probe.node.get_node_names_and_namespaces()
        assert all(ns.startswith(RUN_NAMESPACE) for _, ns in names), names
        assert probe.namespace == RUN_NAMESPACE and run_ns("/x") == RUN_NAMESPACE + "/x"
        assert run_ns(run_ns("x")) == run_ns("x")
        # the node process holds the domain locks too (a crashed run's nodes keep them)
        lock = os.path.join(DOMAIN_LOCK_DIR, f"{dom}.lock")
        fds = os.listdir(f"/proc/{node.proc.pid}/fd")
        targets = {os.path.realpath(f"/proc/{node.proc.pid}/fd/{fd}") for fd in fds}
        assert os.path.realpath(lock) in targets
        assert len(lock_fds()) >= 2
    finally:
        node.close()
        probe.close()
