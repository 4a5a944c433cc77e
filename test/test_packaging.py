"""Packaging: colcon build into a temp install space, the installed layout, and Python 3.10
syntax."""

import glob
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.dirname(sys.executable)
NODES = ("face_audio_capture", "face_audio_bridge", "face_animator", "face_speech", "retarget",
         "face_mesh")
# a sourced workspace (colcon test in a shell that sourced install/setup.sh) must not leak
# into the temporary install these tests build and inspect
WORKSPACE_VARS = ("AMENT_PREFIX_PATH", "COLCON_PREFIX_PATH", "CMAKE_PREFIX_PATH", "PYTHONPATH")


def clean_env(**extra):
    """os.environ without the variables a sourced ROS workspace sets, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in WORKSPACE_VARS}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def colcon_install(tmp_path_factory):
    colcon = shutil.which("colcon", path=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    if colcon is None:
        pytest.skip("colcon is not installed (tools/requirements.txt installs it into .venv)")
    tmp = tmp_path_factory.mktemp("colcon")
    env = clean_env(PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    r = subprocess.run(
        [
            colcon,
            "--log-base",
            str(tmp / "log"),
            "build",
            "--base-paths",
            ROOT,
            "--build-base",
            str(tmp / "build"),
            "--install-base",
            str(tmp / "install"),
        ],
        cwd=str(tmp),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return tmp / "install"


def test_colcon_share_layout(colcon_install):
    share = colcon_install / "emotalk_ros" / "share"
    assert (share / "ament_index" / "resource_index" / "packages" / "emotalk_ros").exists()
    pkg = share / "emotalk_ros"
    assert (pkg / "package.xml").exists()
    assert (pkg / "launch" / "face.launch.py").exists()
    assert (pkg / "config" / "face.yaml").exists()
    for rig in glob.glob(os.path.join(ROOT, "config", "rigs", "*.yaml")):
        assert (pkg / "config" / "rigs" / os.path.basename(rig)).exists()
    for f in os.listdir(os.path.join(ROOT, "config", "ros2_control")):
        assert (pkg / "config" / "ros2_control" / f).exists(), f
    for f in os.listdir(os.path.join(ROOT, "models")):
        assert (pkg / "models" / f).exists(), f


def test_colcon_lib_layout_runs(colcon_install):
    lib = colcon_install / "emotalk_ros" / "lib" / "emotalk_ros"
    for exe in NODES + ("emotalk", "audio_capture"):
        assert os.access(lib / exe, os.X_OK), exe
    site = glob.glob(str(colcon_install / "emotalk_ros" / "lib" / "python3*" / "site-packages"))
    env = clean_env(PYTHONPATH=os.pathsep.join(site))
    # `ros2 run emotalk_ros emotalk` executes lib/emotalk_ros/emotalk itself (its shebang is
    # the Python that built it)
    r = subprocess.run(
        [str(lib / "emotalk"), "--version"],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(colcon_install),
        timeout=60,
    )
    assert r.returncode == 0 and "emotalk_ros" in r.stdout, r.stderr
    # the installed package finds its installed models/config without the source tree
    code = ("import emotalk_ros, os; from emotalk_ros.resources import models_dir; "
            "print(emotalk_ros.__file__); print(models_dir())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       cwd=str(colcon_install), timeout=60)
    assert r.returncode == 0, r.stderr
    assert str(colcon_install) in r.stdout.splitlines()[0]
    assert r.stdout.splitlines()[1] == str(
        colcon_install / "emotalk_ros" / "share" / "emotalk_ros" / "models"
    )
    env["AMENT_PREFIX_PATH"] = str(colcon_install / "emotalk_ros")     # as after sourcing setup.sh
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       cwd=str(colcon_install), timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1] == str(
        colcon_install / "emotalk_ros" / "share" / "emotalk_ros" / "models"
    )


def test_package_xml_is_format3_ament_python():
    import xml.etree.ElementTree as ET

    root = ET.parse(os.path.join(ROOT, "package.xml")).getroot()
    assert root.get("format") == "3"
    assert root.find("export/build_type").text == "ament_python"
    deps = {e.text for e in root.findall("exec_depend")}
    for d in ("rclpy", "std_msgs", "sensor_msgs", "visualization_msgs", "diagnostic_msgs",
              "trajectory_msgs", "python3-numpy", "python3-yaml"):
        assert d in deps


def test_setup_declares_every_node():
    text = open(os.path.join(ROOT, "setup.py")).read()
    for n in NODES:
        assert f"{n} = emotalk_ros.ros.{n}_node:main" in text
        assert os.path.exists(os.path.join(ROOT, "emotalk_ros", "ros", f"{n}_node.py")), n
    assert "emotalk = emotalk_ros.cli.main:main" in text
    cfg = open(os.path.join(ROOT, "setup.cfg")).read()
    assert (
        "script_dir=$base/lib/emotalk_ros" in cfg
        and "install_scripts=$base/lib/emotalk_ros" in cfg
    )


def _python310():
    cands = [shutil.which("python3.10")] + sorted(
        glob.glob(os.path.expanduser("~/.pyenv/versions/3.10*/bin/python3.10"))
    )
    for c in cands:
        if c and subprocess.run([c, "--version"], capture_output=True).returncode == 0:
            return c
    return None


def test_python310_syntax():
    """Every module compiles under Python 3.10 rules (a real 3.10 interpreter when present, and
    ruff)."""
    files = sorted(
        glob.glob(os.path.join(ROOT, "emotalk_ros", "**", "*.py"), recursive=True)
        + glob.glob(os.path.join(ROOT, "launch", "*.py"))
        + glob.glob(os.path.join(ROOT, "test", "*.py"))
        + glob.glob(os.path.join(ROOT, "tools", "*.py"))
    )
    checked = False
    py310 = _python310()
    if py310:
        code = ("import sys\nbad = []\nfor f in sys.argv[1:]:\n    try:\n"
                "        compile(open(f, encoding='utf-8').read(), f, 'exec')\n"
                "    except SyntaxError as e:\n        bad.append(f'{f}:{e.lineno}: {e.msg}')\n"
                "print('\\n'.join(bad)); sys.exit(1 if bad else 0)\n")
        r = subprocess.run(
            [py310, "-c", code] + files, capture_output=True, text=True, timeout=300
        )
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
        checked = True
    ruff = shutil.which("ruff", path=VENV_BIN)
    if ruff:
        r = subprocess.run(
            [
                ruff,
                "check",
                "--no-cache",
                "--target-version",
                "py310",
                "--select",
                "E9,F63,F7,F82",
                "--output-format",
                "concise",
            ]
            + files,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stdout[-3000:]
        checked = True
    assert checked, "neither a Python 3.10 interpreter nor ruff is available"


def sourced_prefix():
    """The install prefix of emotalk_ros in a sourced workspace (AMENT_PREFIX_PATH), or None."""
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        marker = os.path.join(prefix, "share", "ament_index", "resource_index", "packages",
                              "emotalk_ros")
        if prefix and os.path.isfile(marker):
            return prefix
    return None


def test_a_sourced_workspace_runs_like_ros2_run(tmp_path):
    """In a shell that sourced install/setup.sh (CI's colcon leg): the installed executables
    run as ``ros2 run emotalk_ros <exe>`` runs them (``<prefix>/lib/emotalk_ros/<exe>``), on
    the installed package and its installed models, away from the source tree."""
    prefix = sourced_prefix()
    if prefix is None:
        pytest.skip("no sourced workspace with emotalk_ros (the CI colcon leg sources one)")
    lib = os.path.join(prefix, "lib", "emotalk_ros")
    env = dict(os.environ)                          # the sourced environment as it is
    r = subprocess.run([os.path.join(lib, "emotalk"), "--version"], capture_output=True,
                       text=True, env=env, cwd=str(tmp_path), timeout=60)
    assert r.returncode == 0 and "emotalk_ros" in r.stdout, r.stderr
    code = ("import emotalk_ros; from emotalk_ros.resources import models_dir; "
            "print(emotalk_ros.__file__); print(models_dir())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       cwd=str(tmp_path), timeout=60)
    assert r.returncode == 0, r.stderr
    pkg_file, models = r.stdout.splitlines()[:2]
    assert pkg_file.startswith(prefix) and models.startswith(prefix), r.stdout
    # a node: starts from the install, reads its installed params file, fails a bad start
    # with one line
    cfg = os.path.join(prefix, "share", "emotalk_ros", "config", "face.yaml")
    r = subprocess.run([os.path.join(lib, "retarget"), "--ros-args", "--params-file", cfg,
                        "-p", "rig_file:=no_such_rig"], capture_output=True, text=True,
                       env=env, cwd=str(tmp_path), timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "rig file 'no_such_rig' not found" in r.stderr and "Traceback" not in r.stderr
    assert os.path.join(prefix, "share", "emotalk_ros", "config", "rigs") in r.stderr
