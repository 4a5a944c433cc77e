"""Concurrent test runs on one machine cannot cross-talk: every ROS domain id a run uses is
locked for it alone (also while its node processes live), and its nodes live under the run's
own namespace (test/conftest.py, test/ros_harness.py)."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("rclpy")

import conftest  # noqa: E402
from conftest import (  # noqa: E402
    DOMAIN_LOCK_DIR,
    ROOT,
    RUN_NAMESPACE,
    SESSION_DOMAIN,
    lock_fds,
    release_domains_since,
)
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


TRY_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("FREE")
except OSError:
    print("HELD")
"""


def lock_state(domain):
    """'FREE' or 'HELD': whether another process could lock ``domain`` now."""
    r = subprocess.run([sys.executable, "-c", TRY_LOCK,
                        os.path.join(DOMAIN_LOCK_DIR, f"{domain}.lock")],
                       capture_output=True, text=True, timeout=30)
    return r.stdout.strip()


def test_released_domains_stay_locked_while_a_node_that_inherited_them_lives():
    before = set(conftest._held_domains)
    a, b = new_domain(), new_domain()
    assert lock_state(a) == lock_state(b) == "HELD"
    node = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                            pass_fds=lock_fds())
    try:
        assert sorted(release_domains_since(before)) == sorted([a, b])
        assert a not in conftest._held_domains and b not in conftest._held_domains
        assert lock_state(a) == lock_state(b) == "HELD"       # the node still holds them
        assert SESSION_DOMAIN in conftest._held_domains
    finally:
        node.kill()
        node.wait()
    assert lock_state(a) == lock_state(b) == "FREE"
    assert lock_state(SESSION_DOMAIN) == "HELD"              # never released by a test
    assert new_domain() not in (a, b)                        # ids never used come first


_TAKEN = []


def test_a_test_takes_a_domain():
    _TAKEN.append(new_domain())
    assert lock_state(_TAKEN[0]) == "HELD"


def test_the_domain_of_a_finished_test_is_free_again():
    """Runs after test_a_test_takes_a_domain (file order): the autouse fixture gave its
    domain back when it ended."""
    if not _TAKEN:
        pytest.skip("runs after test_a_test_takes_a_domain")
    assert _TAKEN[0] not in conftest._held_domains
    assert lock_state(_TAKEN[0]) == "FREE"
