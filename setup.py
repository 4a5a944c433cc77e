"""ament_python setup for emotalk_ros (colcon build, or pip install)."""

import os
from glob import glob

from setuptools import find_packages, setup

package_name = "emotalk_ros"


def tree(src):
    """data_files entries that mirror ``src`` (recursively) under share/<pkg>/src."""
    out = {}
    for path in glob(os.path.join(src, "**", "*"), recursive=True):
        if os.path.isfile(path) and "__pycache__" not in path:
            dest = os.path.join("share", package_name, os.path.dirname(path))
            out.setdefault(dest, []).append(path)
    return sorted(out.items())


setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
    ] + tree("config") + tree("models"),
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="emotalk_ros maintainers",
    maintainer_email="maintainers@emotalk-ros.invalid",
    description="Voice-synchronised, emotionally controllable robot faces for ROS 2",
    license="Apache-2.0",
    # colcon test runs pytest when pytest is a test dependency: extras_require["test"] is read
    # on every setuptools (newer ones ignore tests_require, then colcon ran unittest: 0 tests)
    tests_require=["pytest"],
    extras_require={"test": ["pytest"]},
    entry_points={
        "console_scripts": [
            "emotalk = emotalk_ros.cli.main:main",
            "face_audio_capture = emotalk_ros.ros.face_audio_capture_node:main",
            "face_audio_bridge = emotalk_ros.ros.face_audio_bridge_node:main",
            # deprecated alias of face_audio_capture (the old executable and node name)
            "audio_capture = emotalk_ros.ros.face_audio_capture_node:main_deprecated",
            "face_animator = emotalk_ros.ros.face_animator_node:main",
            "face_speech = emotalk_ros.ros.face_speech_node:main",
            "retarget = emotalk_ros.ros.retarget_node:main",
            "face_mesh = emotalk_ros.ros.face_mesh_node:main",
        ],
    },
)
