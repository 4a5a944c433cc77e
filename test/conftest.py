"""Shared pytest fixtures: an isolated ROS environment for every test process."""

import fcntl
import os
import random
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# ---------------------------------------------------------------------------------------------
# ROS isolation: every domain id a test run uses is locked for this run alone
# ---------------------------------------------------------------------------------------------
# Ids 1..101: with Fast DDS's port mapping (7400 + 250 * id) higher ids reach the kernel's
# ephemeral port range. 0 is everybody's default, so it is never used.
DOMAIN_POOL = tuple(range(1, 102))
DOMAIN_LOCK_DIR = os.path.join(tempfile.gettempdir(), "emotalk_ros_domains")
_held_domains = {}          # domain id -> open file descriptor holding its exclusive lock
_used_domains = set()       # every domain id this run has held (released ones too)


def allocate_domain():
    """A ROS domain id (int) no other test run on this machine holds, locked for this run
    until the test that took it ends (``release_domains_since``) or the run exits.

    The lock is an exclusive ``flock`` on ``DOMAIN_LOCK_DIR/<id>.lock``: two concurrent
    ``make test`` runs never get the same id. The kernel drops it when this process and
    every child that inherited the descriptor (``lock_fds()``) have closed it, so node
    processes a crashed run (or a test) left behind keep their domain blocked. Ids this run
    has never used come first, so one run reuses an id only when the pool is otherwise
    taken.
    """
    os.makedirs(DOMAIN_LOCK_DIR, exist_ok=True)
    ids = [d for d in DOMAIN_POOL if d not in _held_domains]
    random.SystemRandom().shuffle(ids)
    ids.sort(key=lambda d: d in _used_domains)            # stable: fresh ids first
    for d in ids:
        fd = os.open(os.path.join(DOMAIN_LOCK_DIR, f"{d}.lock"), os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        _held_domains[d] = fd
        _used_domains.add(d)
        return d
    raise RuntimeError(f"every ROS domain in {DOMAIN_POOL[0]}..{DOMAIN_POOL[-1]} is locked by "
                       f"other test runs ({DOMAIN_LOCK_DIR})")


def lock_fds():
    """The lock descriptors of this run's domains (child processes inherit them)."""
    return tuple(_held_domains.values())


def release_domains_since(before):
    """Close this run's locks of every domain allocated since ``before`` (a set of ids)
    except the run's own ``SESSION_DOMAIN``; returns the released ids. A node process that
    inherited a lock keeps its domain locked until it exits, so a domain is free again
    only when nothing of the test that used it is left."""
    out = []
    for d in [d for d in _held_domains if d not in before and d != SESSION_DOMAIN]:
        os.close(_held_domains.pop(d))
        out.append(d)
    return out


# Every test run gets its own ROS domain and localhost-only discovery, so parallel runs
# (and other sessions on the machine) never cross-talk. A ROS_DOMAIN_ID from outside is
# replaced: only a locked id is known to be free.
SESSION_DOMAIN = allocate_domain()
os.environ["ROS_DOMAIN_ID"] = str(SESSION_DOMAIN)
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("MPLBACKEND", "Agg")
# A unique ROS namespace for this run's node processes and probes (test/ros_harness.py).
RUN_NAMESPACE = f"/emotalk_test_{os.getpid()}_{random.SystemRandom().randrange(16 ** 6):06x}"


# Hypothesis: the same examples on every run and machine (derandomized: the seed comes from
# each test's source), no example database, and a failure prints its example plus a
# @reproduce_failure blob. HYPOTHESIS_PROFILE=explore draws fresh random examples instead.
try:
    from hypothesis import settings as _hyp_settings
except ImportError:                                  # property tests skip themselves
    _hyp_settings = None
if _hyp_settings is not None:
    _hyp_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
    _hyp_settings.register_profile("explore", derandomize=False, database=None,
                                   print_blob=True)
    _hyp_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def ros_env(domain_id=None):
    """Environment for a child ROS process: same isolation as this test run."""
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(domain_id if domain_id is not None else os.environ["ROS_DOMAIN_ID"])
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture(autouse=True)
def _release_test_domains():
    """Every domain a test (or its function-scoped fixtures) allocated is given back when the
    test ends: a run holds only the domains of its running test, so concurrent runs cannot
    exhaust the pool between them (each used to keep every domain until it exited)."""
    before = set(_held_domains)
    yield
    release_domains_since(before)


@pytest.fixture
def fresh_domain():
    """A ROS_DOMAIN_ID (int) of its own, locked for this run, for one multi-process test."""
    return allocate_domain()


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory):
    """About 2 s of espeak-ng speech (22.05 kHz wav, as the CLI writes it)."""
    d = tmp_path_factory.mktemp("speech")
    path = str(d / "speech.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", path,
                    "Hello robot. Papa made a banana pie."], check=True, timeout=30)
    return path
