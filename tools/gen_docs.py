#!/usr/bin/env python3
"""Regenerate the documents that are derived from code, or check that they are current.

* ``config/face.yaml`` from the parameter tables (``emotalk_ros/ros/parameters.py``);
* ``config/ros2_control/<rig>.urdf`` and ``<rig>_controllers.yaml`` of every example rig, from
  ``config/rigs/<rig>.yaml`` (``emotalk_ros/retarget/urdf.py``);
* the README's parameter table and topic table, and docs/INTERFACE.md's topic table, between
  their ``<!-- BEGIN name ... -->`` / ``<!-- END name -->`` markers, from the parameter tables
  and ``emotalk_ros/ros/qos.py``.

Usage: ``python tools/gen_docs.py`` (write) or ``python tools/gen_docs.py --check`` (exit 1 and
name the stale files). ``make docs`` runs the first; the test suite runs the check.
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from emotalk_ros.retarget import urdf  # noqa: E402
from emotalk_ros.retarget.rig import EXAMPLE_RIGS, Rig  # noqa: E402
from emotalk_ros.ros import parameters, qos  # noqa: E402

BLOCK = re.compile(r"(<!-- BEGIN (?P<name>[a-z]+) [^\n]*-->\n)(?P<body>.*?)"
                   r"(<!-- END (?P=name) -->)", re.S)


def regions():
    """{block name: generated markdown}."""
    return {"parameters": parameters.render_markdown(), "topics": qos.render_markdown()}


def fill(text: str) -> str:
    """``text`` with every known generated block replaced by its current content."""
    gen = regions()

    def sub(m):
        name = m.group("name")
        if name not in gen:
            return m.group(0)
        return m.group(1) + gen[name] + m.group(4)

    return BLOCK.sub(sub, text)


def targets(root=ROOT):
    """{path: expected full text} for every generated document under ``root``."""
    out = {os.path.join(root, "config", "face.yaml"): parameters.render_yaml()}
    control = os.path.join(root, "config", "ros2_control")
    for name in EXAMPLE_RIGS:
        rig = Rig.load(os.path.join(root, "config", "rigs", name + ".yaml"))
        out[os.path.join(control, name + ".urdf")] = urdf.urdf_text(rig)
        out[os.path.join(control, name + "_controllers.yaml")] = urdf.controllers_text(rig)
    for rel in ("README.md", os.path.join("docs", "INTERFACE.md")):
        path = os.path.join(root, rel)
        with open(path, encoding="utf-8") as f:
            out[path] = fill(f.read())
    return out


def stale(root=ROOT):
    """Paths (relative to ``root``) whose content differs from what would be generated."""
    bad = []
    for path, text in targets(root).items():
        if not os.path.isfile(path):
            bad.append(os.path.relpath(path, root))
            continue
        with open(path, encoding="utf-8") as f:
            if f.read() != text:
                bad.append(os.path.relpath(path, root))
    return bad


def main(argv):
    if argv[1:] == ["--check"]:
        bad = stale()
        for p in bad:
            sys.stderr.write(f"{p} is out of date: run `python tools/gen_docs.py`\n")
        return 1 if bad else 0
    for path, text in targets().items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
