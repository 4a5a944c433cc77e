"""The procedural face mesh: sanity, and every checked delta moves the right region the right
way."""

import os

import numpy as np
import pytest

from emotalk_ros.core.blendshapes import INDEX, NAMES, NUM_BLENDSHAPES, to_vector
from emotalk_ros.errors import EmotalkError
from emotalk_ros.mesh.mesh import FaceMesh, FastDeformer, default_mesh_path, shade, vertex_normals

FLIP = np.array([-1.0, 1.0, 1.0], np.float32)


@pytest.fixture(scope="module")
def mesh():
    return FaceMesh.load()


def disp(mesh, name, weights):
    """Displacement (3,) of landmark ``name`` under the named weights."""
    i = mesh.landmark(name)
    return mesh.deform(to_vector(weights))[i] - mesh.vertices[i]


def test_asset_is_small_and_sane(mesh):
    assert os.path.getsize(default_mesh_path()) < 5_000_000
    v, t = mesh.vertices, mesh.triangles
    assert 2000 < v.shape[0] < 50000
    assert t.shape[1] == 3 and t.shape[0] > v.shape[0]
    assert t.min() >= 0 and t.max() < v.shape[0]
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(mesh.deltas))
    assert mesh.deltas.shape == (NUM_BLENDSHAPES, v.shape[0], 3)
    assert mesh.colors.shape == v.shape and mesh.colors.min() >= 0 and mesh.colors.max() <= 1
    # a life-size head: about 15 cm wide, 20-25 cm from chin to crown
    head = v[~mesh.region_mask("neck")]
    ext = head.max(0) - head.min(0)
    assert 0.12 < ext[0] < 0.20 and 0.20 < ext[1] < 0.30 and 0.15 < ext[2] < 0.25
    # no degenerate triangles
    area = np.linalg.norm(np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]]), axis=1)
    assert area.min() > 0
    for r in ("lip_upper", "lip_lower", "eye_left", "eye_right", "teeth_upper", "tongue", "brow"):
        assert mesh.region_mask(r).sum() > 10, r


def test_every_delta_moves_something_bounded(mesh):
    mags = np.linalg.norm(mesh.deltas, axis=2).max(axis=1)          # (52,)
    for n in NAMES:
        assert 0.001 < mags[INDEX[n]] < 0.05, (n, mags[INDEX[n]])


def test_jaw_open_drops_chin_not_upper_lip(mesh):
    d_chin = disp(mesh, "chin", {"jawOpen": 1.0})
    assert d_chin[1] < -0.015
    assert np.linalg.norm(disp(mesh, "lip_upper_mid", {"jawOpen": 1.0})) < 0.001
    assert disp(mesh, "lip_lower_mid", {"jawOpen": 1.0})[1] < -0.015
    # the brow and the eyes do not move with the jaw
    assert np.linalg.norm(disp(mesh, "brow_inner_left", {"jawOpen": 1.0})) < 1e-4


def lip_gap(mesh, w):
    v = mesh.deform(to_vector(w))
    return float(
        np.linalg.norm(v[mesh.landmark("lip_upper_mid")] - v[mesh.landmark("lip_lower_mid")])
    )


def test_mouth_close_closes_lips_against_open_jaw(mesh):
    assert lip_gap(mesh, {}) < 1e-4
    assert lip_gap(mesh, {"jawOpen": 1.0}) > 0.015
    assert lip_gap(mesh, {"jawOpen": 1.0, "mouthClose": 1.0}) < 0.001
    assert lip_gap(mesh, {"jawOpen": 0.5, "mouthClose": 0.5}) < 0.001
    assert lip_gap(mesh, {"jawOpen": 0.5, "mouthClose": 0.25}) > 0.004
    # with the lips closed the chin stays down
    assert disp(mesh, "chin", {"jawOpen": 1.0, "mouthClose": 1.0})[1] < -0.015


def test_smile_left_moves_left_corner_up_and_out(mesh):
    cl = mesh.vertices[mesh.landmark("mouth_corner_left")]
    assert cl[0] > 0  # subject's left is +x
    d = disp(mesh, "mouth_corner_left", {"mouthSmileLeft": 1.0})
    assert d[1] > 0.003 and d[0] > 0.002
    assert np.linalg.norm(disp(mesh, "mouth_corner_right", {"mouthSmileLeft": 1.0})) < 0.001
    d = disp(mesh, "mouth_corner_right", {"mouthSmileRight": 1.0})
    assert d[1] > 0.003 and d[0] < -0.002
    assert disp(mesh, "mouth_corner_left", {"mouthFrownLeft": 1.0})[1] < -0.003


def test_blink_closes_left_upper_lid_only(mesh):
    up, lo = mesh.landmark("lid_upper_left"), mesh.landmark("lid_lower_left")
    v0 = mesh.vertices
    assert v0[up, 1] - v0[lo, 1] > 0.005  # open at rest
    v = mesh.deform(to_vector({"eyeBlinkLeft": 1.0}))
    assert v[up, 1] - v0[up, 1] < -0.004
    assert abs(v[up, 1] - v[lo, 1]) < 0.0005
    # the lid stays in front of the eyeball
    eye = v[mesh.region_mask("eye_left")]
    assert v[up, 2] > eye[:, 2].max() - 0.003
    assert (
        np.linalg.norm(v[mesh.landmark("lid_upper_right")] - v0[mesh.landmark("lid_upper_right")])
        < 1e-6
    )


def test_mirrored_pairs_are_mirror_images(mesh):
    m = mesh.mirror
    # the mirror map is a geometric mirror (x -> -x) of the rest mesh
    assert np.allclose(mesh.vertices[m] * FLIP, mesh.vertices, atol=1e-6)
    assert np.array_equal(m[m], np.arange(m.size))
    pairs = [(n, n.replace("Left", "Right")) for n in NAMES if "Left" in n]
    assert len(pairs) == 20
    for left, right in pairs:
        dl, dr = mesh.deltas[INDEX[left]], mesh.deltas[INDEX[right]]
        assert np.abs(dl).max() > 0
        assert np.allclose(dr, dl[m] * FLIP, atol=1e-6), (left, right)
    # symmetric shapes are their own mirror image
    for n in ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "browInnerUp", "cheekPuff",
              "tongueOut", "mouthRollLower"):
        d = mesh.deltas[INDEX[n]]
        assert np.allclose(d, d[m] * FLIP, atol=1e-6), n


def test_eyes_brows_cheeks_nose_tongue(mesh):
    assert disp(mesh, "pupil_left", {"eyeLookUpLeft": 1.0})[1] > 0.002
    assert disp(mesh, "pupil_left", {"eyeLookDownLeft": 1.0})[1] < -0.002
    assert disp(mesh, "pupil_left", {"eyeLookOutLeft": 1.0})[0] > 0.002  # out = away from the nose
    assert disp(mesh, "pupil_left", {"eyeLookInLeft": 1.0})[0] < -0.002
    assert disp(mesh, "pupil_right", {"eyeLookInRight": 1.0})[0] > 0.002
    assert disp(mesh, "brow_inner_left", {"browInnerUp": 1.0})[1] > 0.003
    assert disp(mesh, "brow_inner_left", {"browDownLeft": 1.0})[1] < -0.002
    assert disp(mesh, "cheek_left", {"cheekPuff": 1.0})[0] > 0.003
    v = mesh.deform(to_vector({"tongueOut": 1.0, "jawOpen": 0.5}))
    lips_z = mesh.vertices[mesh.landmark("lip_lower_mid"), 2]
    assert v[mesh.region_mask("tongue"), 2].max() > lips_z
    assert mesh.vertices[mesh.region_mask("tongue"), 2].max() < lips_z
    d = mesh.deltas[INDEX["noseSneerLeft"]]
    assert d[:, 1].max() > 0.002 and np.argmax(d[:, 1]) in np.flatnonzero(mesh.vertices[:, 0] > 0)
    # rolling the lower lip in moves its edge back (into the mouth)
    assert disp(mesh, "lip_lower_mid", {"mouthRollLower": 1.0})[2] < -0.004
    # funnel/pucker push the lips forward and pull the corners in
    for n in ("mouthFunnel", "mouthPucker"):
        assert disp(mesh, "lip_upper_mid", {n: 1.0})[2] > 0.004
        assert disp(mesh, "mouth_corner_left", {n: 1.0})[0] < -0.003


def test_deform_is_linear_and_sanitises(mesh):
    w = np.zeros(NUM_BLENDSHAPES, np.float32)
    w[INDEX["jawOpen"]] = 0.3
    w[INDEX["mouthSmileLeft"]] = 0.7
    expect = (
        mesh.vertices
        + 0.3 * mesh.deltas[INDEX["jawOpen"]]
        + 0.7 * mesh.deltas[INDEX["mouthSmileLeft"]]
    )
    assert np.allclose(mesh.deform(w), expect, atol=1e-6)
    bad = w.copy()
    bad[INDEX["eyeBlinkLeft"]] = np.nan
    bad[INDEX["tongueOut"]] = 7.0
    v = mesh.deform(bad)
    assert np.all(np.isfinite(v))
    assert np.allclose(v, mesh.deform(np.where(np.isnan(bad), 0, np.minimum(bad, 1))), atol=1e-6)
    with pytest.raises(EmotalkError):
        mesh.deform(np.zeros(51))


def test_normals_and_load_errors(mesh, tmp_path):
    n = vertex_normals(mesh.vertices, mesh.triangles)
    assert np.allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-4)
    assert n[mesh.landmark("nose_tip"), 2] > 0.5  # outward winding: the nose tip faces the viewer
    with pytest.raises(EmotalkError):
        FaceMesh.load(str(tmp_path / "missing.npz"))
    np.savez(tmp_path / "bad.npz", vertices=np.zeros((3, 3)))
    with pytest.raises(EmotalkError):
        FaceMesh.load(str(tmp_path / "bad.npz"))
    with pytest.raises(EmotalkError):
        mesh.region_mask("nope")


def test_fast_deformer_matches_the_reference(mesh):
    """The node's precomputed path gives the reference deform/shade results for random,
    sparse and hostile weights (NaN, Inf, out of range)."""
    fd = FastDeformer(mesh)
    rng = np.random.default_rng(3)
    cases = [np.zeros(NUM_BLENDSHAPES, np.float32), np.ones(NUM_BLENDSHAPES, np.float32)]
    for _ in range(6):
        cases.append(
            (rng.random(NUM_BLENDSHAPES) * (rng.random(NUM_BLENDSHAPES) < 0.4)).astype(np.float32)
        )
    hostile = rng.normal(0.5, 2.0, NUM_BLENDSHAPES).astype(np.float32)
    hostile[[3, 17, 40]] = [np.nan, np.inf, -np.inf]
    cases.append(hostile)
    for w in cases:
        ref = mesh.deform(w)
        got = fd.deform(w)
        assert got.dtype == np.float32 and got.shape == ref.shape
        assert np.abs(got - ref).max() < 1e-6
        assert (
            np.abs(
                fd.shade(got, ambient=0.2) - shade(ref, mesh.triangles, mesh.colors, ambient=0.2)
            ).max()
            < 1e-4
        )
        assert np.abs(fd.normals(got) - vertex_normals(ref, mesh.triangles)).max() < 1e-4
    # the rest pose is not modified in place by deforming
    before = mesh.vertices.copy()
    fd.deform(np.ones(NUM_BLENDSHAPES))
    assert np.array_equal(mesh.vertices, before)
    with pytest.raises(EmotalkError):
        fd.deform(np.zeros(51))
