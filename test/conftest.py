"""Shared pytest fixtures: an isolated ROS environment for every test process."""

import os
import random
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

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


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory):
    """About 2 s of espeak-ng speech (22.05 kHz wav, as the CLI writes it)."""
    d = tmp_path_factory.mktemp("speech")
    path = str(d / "speech.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", path,
                    "Hello robot. Papa made a banana pie."], check=True, timeout=30)
    return path
