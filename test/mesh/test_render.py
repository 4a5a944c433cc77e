"""The numpy renderer and ``emotalk render``: non-blank frames, mouth pixels follow jawOpen,
mp4/GIF output."""

import json
import os
import shutil
import subprocess
import sys
import time
import wave

import numpy as np
import pytest
from conftest import ROOT

from emotalk_ros.core.blendshapes import INDEX, to_vector, write_live_link_csv
from emotalk_ros.errors import EmotalkError
from emotalk_ros.mesh.mesh import FaceMesh
from emotalk_ros.mesh.render import (
    BACKGROUND,
    FRONT,
    Camera,
    project,
    render_contact_sheet,
    render_frame,
)

SIZE = (160, 160)


@pytest.fixture(scope="module")
def mesh():
    return FaceMesh.load()


def landmark_px(mesh, name, size=SIZE, camera=FRONT):
    x, y, _ = project(mesh.vertices, size, camera)[mesh.landmark(name)]
    return int(round(x)), int(round(y))


def test_frame_is_a_non_blank_face(mesh):
    img = render_frame(mesh, np.zeros(52), SIZE)
    assert img.shape == (SIZE[1], SIZE[0], 3) and img.dtype == np.uint8
    bg = np.round(np.array(BACKGROUND) * 255)
    covered = np.any(np.abs(img.astype(int) - bg) > 3, axis=2).mean()
    assert 0.2 < covered < 0.9
    assert img.std() > 10
    # the face is drawn where the mesh projects: the nose tip pixel is skin, not background
    x, y = landmark_px(mesh, "nose_tip")
    assert np.abs(img[y, x].astype(int) - bg).max() > 30


def test_mouth_pixels_follow_jaw_open_and_nothing_else_moves(mesh):
    a = render_frame(mesh, np.zeros(52), SIZE).astype(int)
    b = render_frame(mesh, to_vector({"jawOpen": 1.0}), SIZE).astype(int)
    xu, yu = landmark_px(mesh, "lip_upper_mid")
    xl, yl = landmark_px(mesh, "mouth_corner_left")
    mouth = np.abs(a - b)[yu:yu + 12, 2 * xu - xl:xl]                  # below the mouth line
    assert mouth.mean() > 15
    xb, yb = landmark_px(mesh, "brow_inner_left")
    forehead = np.abs(a - b)[yb - 10:yb + 2, xb - 10:xb + 10]
    assert forehead.max() == 0
    # the opened mouth shows the dark cavity between the lips
    open_lum = b[yu + 2:yu + 8, xu - 3:xu + 4].mean()
    assert open_lum < a[yu + 2:yu + 8, xu - 3:xu + 4].mean() - 40


def test_camera_options_and_speed(mesh):
    w = to_vector({"jawOpen": 0.4, "mouthSmileLeft": 0.5})
    front = render_frame(mesh, w, (256, 256))
    side = render_frame(mesh, w, (256, 256), Camera(yaw_deg=25.0))
    persp = render_frame(mesh, w, (256, 256), Camera(fov_deg=20.0))
    assert np.abs(front.astype(int) - side).mean() > 5
    assert np.abs(front.astype(int) - persp).mean() > 1
    best = min(_timed(lambda: render_frame(mesh, w, (256, 256))) for _ in range(3))
    assert best < 1.0  # seconds; typically ~0.04 s on one core
    # a face larger than a non-square frame is clipped, never indexed out of bounds
    big = render_frame(mesh, w, (97, 61), Camera(view_height_m=0.05, yaw_deg=-30.0))
    assert big.shape == (61, 97, 3) and big.std() > 5
    with pytest.raises(EmotalkError):
        render_frame(mesh, w, (4, 4))


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def test_contact_sheet(mesh, tmp_path):
    path = tmp_path / "sheet.png"
    poses = [("neutral", np.zeros(52)), ("jaw", to_vector({"jawOpen": 1.0})),
             ("blink", to_vector({"eyeBlinkLeft": 1.0}))]
    img = render_contact_sheet(mesh, str(path), poses=poses, cell=64, cols=2)
    assert img.shape == (128, 128, 3)
    assert path.stat().st_size > 1000
    assert np.abs(img[:64, :64].astype(int) - img[:64, 64:]).mean() > 1


def _write_inputs(tmp_path, seconds=2.0, fps=60):
    t = np.arange(int(seconds * fps)) / fps
    f = np.zeros((t.size, 52))
    f[:, INDEX["jawOpen"]] = 0.5 + 0.5 * np.sin(2 * np.pi * 1.5 * t)
    f[:, INDEX["mouthSmileLeft"]] = t / seconds
    csv = tmp_path / "in.csv"
    write_live_link_csv(str(csv), np.clip(f, 0, 1), fps)
    sr = 16000
    pcm = (0.2 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * sr)) / sr) * 32767).astype(
        np.int16
    )
    wav = tmp_path / "in.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    return csv, wav


def _probe(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                        "format=duration:stream=codec_type,codec_name,width,height,nb_frames",
                        "-of", "json", str(path)], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "emotalk_ros", "render", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg binary")
def test_cli_writes_mp4_with_audio_and_panel(tmp_path):
    csv, wav = _write_inputs(tmp_path)
    out = tmp_path / "p.mp4"
    r = _cli(csv, "--audio", wav, "-o", out, "--fps", "15", "--size", "96", "--panel",
             "--motors", os.path.join(ROOT, "config", "rigs", "hobby_servo_head.yaml"))
    assert r.returncode == 0, r.stderr[-2000:]
    info = _probe(out)
    assert abs(float(info["format"]["duration"]) - 2.0) < 0.1
    kinds = {s["codec_type"]: s for s in info["streams"]}
    assert kinds["video"]["codec_name"] == "h264" and "audio" in kinds
    assert kinds["video"]["height"] == 96 and kinds["video"]["width"] > 96  # face + panel
    # a frame from the mp4 shows the face (not a blank picture)
    frame = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-ss",
            "1.0",
            "-i",
            str(out),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ],
        capture_output=True,
        check=True,
    )
    px = np.frombuffer(frame.stdout, np.uint8)
    assert px.size > 0 and px.std() > 10


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg binary")
def test_cli_writes_gif_and_rejects_bad_input(tmp_path):
    csv, _ = _write_inputs(tmp_path, seconds=1.0)
    out = tmp_path / "p.gif"
    r = _cli(csv, "-o", out, "--fps", "10", "--size", "64")
    assert r.returncode == 0, r.stderr[-2000:]
    assert out.read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    info = _probe(out)
    assert abs(float(info["format"]["duration"]) - 1.0) < 0.15
    r = _cli(tmp_path / "missing.csv", "-o", tmp_path / "x.mp4")
    assert r.returncode != 0 and "not found" in r.stderr
    r = _cli(csv, "-o", tmp_path / "x.avi")
    assert r.returncode != 0 and ".mp4" in r.stderr
