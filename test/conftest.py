"""Shared pytest fixtures: an isolated ROS environment for every test process."""

import os
import random
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# Every test run gets its own ROS domain and localhost-only discovery, so parallel runs
# (and other sessions on the machine) never cross-talk.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(100, 200)))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("MPLBACKEND", "Agg")


def ros_env(domain_id=None):
    """Environment for a child ROS process: same isolation as this test run."""
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(domain_id if domain_id is not None else os.environ["ROS_DOMAIN_ID"])
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture
def fresh_domain():
    """A random ROS_DOMAIN_ID (as int) distinct from the session's, for one multi-process test."""
    return random.randint(1, 99)
