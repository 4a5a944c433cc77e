"""Each example rig ships a ros2_control URDF and a forward_command_controller file that agree
with the rig: parsed with a URDF library from PyPI (urdf-parser-py), joint names and limits
equal the motors and their [min, max], the controller lists the same joints in the same order,
and the shipped files are what emotalk_ros/retarget/urdf.py generates today."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import yaml
from conftest import ROOT

from emotalk_ros.errors import EmotalkError
from emotalk_ros.retarget import urdf
from emotalk_ros.retarget.rig import EXAMPLE_RIGS, Rig

CONTROL = os.path.join(ROOT, "config", "ros2_control")


def rig_files(name):
    return (os.path.join(CONTROL, name + ".urdf"),
            os.path.join(CONTROL, name + "_controllers.yaml"))


def parse_urdf(path):
    urdf_parser = pytest.importorskip("urdf_parser_py.urdf")
    with open(path, encoding="utf-8") as f:
        return urdf_parser.URDF.from_xml_string(f.read())


@pytest.mark.parametrize("name", EXAMPLE_RIGS)
def test_urdf_joints_are_the_rig_motors_with_their_limits(name):
    rig = Rig.load(name)
    robot = parse_urdf(rig_files(name)[0])
    joints = [j for j in robot.joints if j.type != "fixed"]
    assert [j.name for j in joints] == rig.motor_names
    for j, m in zip(joints, rig.motors, strict=True):
        assert (j.limit.lower, j.limit.upper) == (m.min, m.max), j.name
        assert j.limit.velocity == m.max_velocity
        assert j.type == ("revolute" if m.units == "rad" else "prismatic"), (j.name, m.units)
        assert j.parent == urdf.ROOT_LINK
    assert robot.get_root() == urdf.ROOT_LINK        # the frame the face mesh is drawn in


@pytest.mark.parametrize("name", EXAMPLE_RIGS)
def test_urdf_declares_the_joints_for_ros2_control_mock_hardware(name):
    rig = Rig.load(name)
    root = ET.parse(rig_files(name)[0]).getroot()
    blocks = root.findall("ros2_control")
    assert len(blocks) == 1 and blocks[0].get("type") == "system"
    assert blocks[0].find("hardware/plugin").text == "mock_components/GenericSystem"
    joints = blocks[0].findall("joint")
    assert [j.get("name") for j in joints] == rig.motor_names
    for j, m in zip(joints, rig.motors, strict=True):
        cmd = j.findall("command_interface")
        assert [c.get("name") for c in cmd] == ["position"]
        params = {p.get("name"): float(p.text) for p in cmd[0].findall("param")}
        assert params == {"min": m.min, "max": m.max}
        state = j.find("state_interface[@name='position']")
        assert float(state.find("param[@name='initial_value']").text) == m.neutral


@pytest.mark.parametrize("name", EXAMPLE_RIGS)
def test_controllers_file_lists_the_motors_in_command_order(name):
    rig = Rig.load(name)
    data = yaml.safe_load(open(rig_files(name)[1]))
    cm = data["controller_manager"]["ros__parameters"]
    assert cm["face_controller"]["type"] == "forward_command_controller/ForwardCommandController"
    assert cm["joint_state_broadcaster"]["type"] == \
        "joint_state_broadcaster/JointStateBroadcaster"
    ctrl = data["face_controller"]["ros__parameters"]
    assert ctrl["joints"] == rig.motor_names                # = face/motor_commands order
    assert ctrl["interface_name"] == "position"
    urdf.check_rig_files(rig, *rig_files(name))             # and the checker agrees


@pytest.mark.parametrize("name", EXAMPLE_RIGS)
def test_shipped_files_are_current(name):
    rig = Rig.load(os.path.join(ROOT, "config", "rigs", name + ".yaml"))
    u, c = rig_files(name)
    assert open(u).read() == urdf.urdf_text(rig), f"{u} is stale: run python tools/gen_docs.py"
    assert open(c).read() == urdf.controllers_text(rig), \
        f"{c} is stale: run python tools/gen_docs.py"
    assert urdf.shipped_rig_files(name) == (u, c)


def test_checker_names_the_file_that_disagrees(tmp_path):
    rig = Rig.load("hobby_servo_head")
    u, c = rig_files("hobby_servo_head")
    swapped = tmp_path / "swapped_controllers.yaml"
    text = open(c).read().replace("- jaw\n", "- JAW_TMP\n").replace("- brow_left\n", "- jaw\n")
    swapped.write_text(text.replace("- JAW_TMP\n", "- brow_left\n"))
    with pytest.raises(EmotalkError, match="swapped_controllers.yaml.*command order"):
        urdf.check_rig_files(rig, u, str(swapped))
    wide = tmp_path / "wide.urdf"
    wide.write_text(open(u).read().replace('lower="1100.0"', 'lower="900.0"', 1))
    with pytest.raises(EmotalkError, match="wide.urdf: joint 'jaw' limits"):
        urdf.check_rig_files(rig, str(wide), c)
    other = Rig.load("morpheus_head")
    with pytest.raises(EmotalkError, match="hobby_servo_head.urdf: joints .* are not the motors"):
        urdf.check_rig_files(other, u, rig_files("morpheus_head")[1])


def test_missing_or_broken_files_give_one_line_naming_the_file(tmp_path):
    rig = Rig.load("hobby_servo_head")
    u, c = rig_files("hobby_servo_head")
    for bad_u, bad_c, what in ((str(tmp_path / "nope.urdf"), c, "URDF .*nope.urdf not found"),
                               (u, str(tmp_path / "nope.yaml"),
                                "controllers file .*nope.yaml not found")):
        with pytest.raises(EmotalkError, match=what):
            urdf.check_rig_files(rig, bad_u, bad_c)
    broken = tmp_path / "broken.urdf"
    broken.write_text("<robot><joint name='a'>")
    with pytest.raises(EmotalkError, match="broken.urdf: not valid XML"):
        urdf.read_urdf_joints(str(broken))
    empty = tmp_path / "empty_controllers.yaml"
    empty.write_text("controller_manager: {}\n")
    with pytest.raises(EmotalkError, match="empty_controllers.yaml has no face_controller"):
        urdf.read_controller_joints(str(empty))
    with pytest.raises(EmotalkError, match="URDF 'no_such_rig' not found.*hobby_servo_head"):
        urdf.shipped_rig_files("no_such_rig")


def test_command_line_writes_both_files_for_a_users_rig(tmp_path):
    src = tmp_path / "my_head.yaml"
    src.write_text(open(os.path.join(ROOT, "config", "rigs", "hobby_servo_head.yaml")).read()
                   .replace("name: hobby_servo_head", "name: my_head"))
    out_u, out_c = tmp_path / "my_head.urdf", tmp_path / "my_head_controllers.yaml"
    r = subprocess.run([sys.executable, "-m", "emotalk_ros.retarget.urdf", str(src),
                        "--urdf", str(out_u), "--controllers", str(out_c)],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    urdf.check_rig_files(Rig.load(str(src)), str(out_u), str(out_c))
    assert parse_urdf(str(out_u)).name == "my_head"
    r = subprocess.run([sys.executable, "-m", "emotalk_ros.retarget.urdf",
                        str(tmp_path / "missing.yaml"), "--urdf", str(out_u)],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "missing.yaml" in r.stderr and "Traceback" not in r.stderr
