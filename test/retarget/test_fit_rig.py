"""``emotalk fit-rig``: recovers a known linear map, writes a loadable rig, and refuses
too-small or degenerate data with a clear message and a non-zero exit."""

import csv
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from emotalk_ros.cli import main as cli
from emotalk_ros.core.blendshapes import INDEX, NUM_BLENDSHAPES
from emotalk_ros.retarget.rig import Rig
from emotalk_ros.retarget.safety import Retargeter

INPUTS = [
    "JawOpen",
    "mouthClose",
    "mouthSmile_L",
    "mouthSmileRight",
    "browInnerUp",
    "eyeBlinkLeft",
]
CANON = [
    "jawOpen",
    "mouthClose",
    "mouthSmileLeft",
    "mouthSmileRight",
    "browInnerUp",
    "eyeBlinkLeft",
]
# ground truth: motor = C + X @ A   (motors in microseconds and radians)
A = np.array([[800.0, 0.0, 0.0],
              [-600.0, 0.0, 0.0],
              [0.0, 300.0, 0.0],
              [0.0, -120.0, 0.0],
              [0.0, 0.0, 0.4],
              [0.0, 0.0, -0.1]])
C = np.array([1100.0, 1500.0, 0.05])
MOTORS = ["jaw", "corner", "brow"]


def write_samples(path, X, Y, header_bs=INPUTS, motors=MOTORS, prefix="motor:"):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        f.write("# paired samples for fit-rig\n")
        w.writerow(list(header_bs) + [prefix + m for m in motors])
        for x, y in zip(X, Y):
            w.writerow([f"{v:.9g}" for v in x] + [f"{v:.9g}" for v in y])


def make_data(n=200, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, len(INPUTS)))
    Y = C + X @ A + noise * rng.standard_normal((n, 3)) * np.array([1.0, 1.0, 1e-3])
    return X, Y


def fit(tmp_path, capsys, *extra, samples="s.csv"):
    out = tmp_path / "rig.yaml"
    rc = cli.main(["fit-rig", str(tmp_path / samples), "-o", str(out), *extra])
    cap = capsys.readouterr()
    return rc, out, cap.out, cap.err


def test_recovers_known_linear_map(tmp_path, capsys):
    X, Y = make_data(noise=2.0)
    write_samples(tmp_path / "s.csv", X, Y)
    rc, out, stdout, _ = fit(tmp_path, capsys)
    assert rc == 0, stdout
    rig = Rig.load(str(out))
    assert rig.motor_names == MOTORS
    # reported R^2 per motor > 0.99
    r2 = {line.split()[0]: float(line.split()[-1]) for line in stdout.splitlines()
          if line.split() and line.split()[0] in MOTORS}
    assert set(r2) == set(MOTORS) and min(r2.values()) > 0.99, stdout
    # the written rig predicts fresh data
    Xt, Yt = make_data(n=100, seed=1)
    r = Retargeter(rig)
    B = np.zeros((len(Xt), NUM_BLENDSHAPES))
    for i, n in enumerate(CANON):
        B[:, INDEX[n]] = Xt[:, i]
    pred = np.stack([r.map(b) for b in B])
    inside = np.all((Yt >= rig.lower) & (Yt <= rig.upper), axis=1)
    for j in range(3):
        ss = np.sum((pred[inside, j] - Yt[inside, j]) ** 2)
        tot = np.sum((Yt[inside, j] - Yt[inside, j].mean()) ** 2)
        assert 1 - ss / tot > 0.99
    # the weights are the truth scaled into range fractions
    jaw = dict(rig.motors[0].weights)
    span = rig.motors[0].max - rig.motors[0].min
    assert abs(jaw["jawOpen"] * span - 800) < 10 and abs(jaw["mouthClose"] * span + 600) < 10
    assert abs(jaw.get("browInnerUp", 0.0) * span) < 5
    # min/max from the data range; neutral = fitted neutral-face value clamped into it
    np.testing.assert_allclose(rig.lower, Y.min(axis=0))
    np.testing.assert_allclose(rig.upper, Y.max(axis=0))
    assert abs(rig.motors[1].neutral - 1500) < 5


def test_motors_option_and_base_rig(tmp_path, capsys):
    X, Y = make_data()
    write_samples(tmp_path / "s.csv", X, Y, prefix="")
    base = Rig.load("hobby_servo_head").to_dict()
    base["motors"][0]["name"] = "jaw"  # the base's jaw (1100..1900 us) is used for 'jaw'
    Rig.from_dict(base).save(str(tmp_path / "base.yaml"))
    rc, out, stdout, err = fit(tmp_path, capsys, "--motors", "jaw,corner,brow",
                               "--base", str(tmp_path / "base.yaml"))
    assert rc == 0, err
    rig = Rig.load(str(out))
    names = rig.motor_names
    # base motors kept in base order, new ones appended
    assert names[:7] == Rig.load("hobby_servo_head").motor_names and names[7:] == [
        "corner",
        "brow",
    ]
    jaw = rig.motors[0]
    assert (jaw.min, jaw.max, jaw.neutral, jaw.units) == (1100.0, 1900.0, 1100.0, "us")
    assert jaw.max_velocity == 4000
    assert rig.safety == Rig.load("hobby_servo_head").safety
    assert dict(jaw.weights)["jawOpen"] > 0.9  # 800 us over an 800 us span


def test_without_motor_columns_fails(tmp_path, capsys):
    X, Y = make_data()
    write_samples(tmp_path / "s.csv", X, Y, prefix="")
    rc, out, _, err = fit(tmp_path, capsys)
    assert rc != 0 and "neither a blendshape nor a motor" in err and not out.exists()


@pytest.mark.parametrize("case,needle", [
    ("too_small", "too few samples"),
    ("constant_input", "constant"),
    ("constant_motor", "constant"),
    ("collinear", "rank-deficient"),
    ("not_a_number", "not a number"),
])
def test_refuses_degenerate_or_small_data(tmp_path, capsys, case, needle):
    X, Y = make_data()
    if case == "too_small":
        X, Y = X[:29], Y[:29]  # 6 inputs need 30 rows
    elif case == "constant_input":
        X[:, 4] = 0.3
    elif case == "constant_motor":
        Y[:, 1] = 1500.0
    elif case == "collinear":
        X[:, 3] = 0.5 * X[:, 2] + 0.25 * X[:, 0]
    write_samples(tmp_path / "s.csv", X, Y)
    if case == "not_a_number":
        text = (tmp_path / "s.csv").read_text().splitlines()
        text[5] = text[5].replace(",", ",x", 1)
        (tmp_path / "s.csv").write_text("\n".join(text) + "\n")
    rc, out, _, err = fit(tmp_path, capsys)
    assert rc == 1, err
    assert needle in err, err
    assert not out.exists()


def test_enough_samples_boundary_is_accepted(tmp_path, capsys):
    X, Y = make_data(n=30)  # exactly 5 per input
    write_samples(tmp_path / "s.csv", X, Y)
    rc, out, _, err = fit(tmp_path, capsys)
    assert rc == 0, err
    assert out.exists()


def test_cli_subprocess_exit_code(tmp_path):
    X, Y = make_data(n=10)
    write_samples(tmp_path / "s.csv", X, Y)
    r = subprocess.run([sys.executable, "-m", "emotalk_ros", "fit-rig", str(tmp_path / "s.csv"),
                        "-o", str(tmp_path / "rig.yaml")], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1 and "too few samples" in r.stderr
    X, Y = make_data()
    write_samples(tmp_path / "s.csv", X, Y)
    r = subprocess.run([sys.executable, "-m", "emotalk_ros", "fit-rig", str(tmp_path / "s.csv"),
                        "-o", str(tmp_path / "rig.yaml")], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "R^2" in r.stdout and Rig.load(str(tmp_path / "rig.yaml")).motor_names == MOTORS
