"""Headless software renderer for the face mesh (pure numpy; no display, no OpenGL).

``render_frame(mesh, weights (52,), size=(W, H)) -> (H, W, 3) uint8`` deforms the
mesh, shades it per vertex (Lambert, Gouraud-interpolated) and rasterises it with a
z-buffer. Rasterisation is vectorised over triangles: triangles are bucketed by the
size of their screen bounding box, and every bucket tests all pixel centres of its
boxes at once (edge functions -> barycentrics). Back faces are culled (the mesh is
wound counter-clockwise seen from outside).

The camera looks at the face from the front (head frame: x right, y up, z toward the
viewer), optionally turned by ``yaw_deg`` (positive: the face turns toward the
viewer's right, showing more of its right cheek, -x) and ``pitch_deg``; ``fov_deg == 0`` gives
an orthographic view, otherwise a perspective one from ``distance_m``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np

from emotalk_ros.core.blendshapes import INDEX, NUM_BLENDSHAPES, to_vector
from emotalk_ros.errors import EmotalkError
from emotalk_ros.mesh.mesh import DEFAULT_LIGHT, FaceMesh, shade

BACKGROUND = (0.16, 0.17, 0.20)
EXACT_PX = 4  # triangles with boxes up to this size are bucketed by their exact size


@dataclass(frozen=True)
class Camera:
    """View of the face. Lengths in metres, angles in degrees (see module docstring)."""

    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    fov_deg: float = 0.0                  # 0: orthographic
    distance_m: float = 0.8               # perspective only: camera distance from ``center``
    view_height_m: float = 0.29           # visible height at the centre plane
    center: Tuple[float, float, float] = (0.0, -0.012, 0.0)


FRONT = Camera()
THREE_QUARTER = Camera(yaw_deg=25.0, pitch_deg=-4.0)


def _rotation(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """(3, 3) rotation: yaw about +y, then pitch about +x."""
    ya, pa = math.radians(yaw_deg), math.radians(pitch_deg)
    ry = np.array([[math.cos(ya), 0.0, math.sin(ya)], [0.0, 1.0, 0.0],
                   [-math.sin(ya), 0.0, math.cos(ya)]], dtype=np.float32)
    rx = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(pa), -math.sin(pa)],
                   [0.0, math.sin(pa), math.cos(pa)]], dtype=np.float32)
    return rx @ ry


def project(verts: np.ndarray, size: Tuple[int, int], camera: Camera = FRONT) -> np.ndarray:
    """Head-frame vertices (V, 3) m -> screen (V, 3): x px (right), y px (down), depth m (smaller =
    nearer)."""
    w, h = int(size[0]), int(size[1])
    p = (np.asarray(verts, np.float32) - np.asarray(camera.center, np.float32)) @ _rotation(
        camera.yaw_deg, camera.pitch_deg).T                            # (V, 3)
    scale = h / camera.view_height_m                                   # px per metre at centre
    if camera.fov_deg > 0.0:
        f = 0.5 / math.tan(math.radians(camera.fov_deg) / 2.0)  # focal, in view heights
        d = camera.distance_m - p[:, 2]  # (V,) distance along the axis
        k = (f * h) / np.maximum(d, 1e-4)                              # (V,) px per metre
        x, y = p[:, 0] * k, p[:, 1] * k
        depth = d
    else:
        x, y = p[:, 0] * scale, p[:, 1] * scale
        depth = -p[:, 2]
    return np.stack([x + 0.5 * w, 0.5 * h - y, depth], axis=1).astype(np.float32)


def rasterize(screen: np.ndarray, triangles: np.ndarray, colors: np.ndarray, size: Tuple[int, int],
              background=BACKGROUND, cull: bool = True) -> np.ndarray:
    """Z-buffered Gouraud rasterisation -> (H, W, 3) float32 in [0, 1].

    ``screen`` (V, 3) from :func:`project`; ``triangles`` (F, 3); ``colors`` (V, 3) in [0, 1].
    """
    w, h = int(size[0]), int(size[1])
    tri = np.asarray(triangles)
    s = screen[tri]                                                    # (F, 3, 3)
    x0, y0 = s[:, 0, 0], s[:, 0, 1]
    e1x, e1y = s[:, 1, 0] - x0, s[:, 1, 1] - y0                        # (F,)
    e2x, e2y = s[:, 2, 0] - x0, s[:, 2, 1] - y0
    area = e1x * e2y - e1y * e2x  # (F,) <0: front facing (y down)
    keep = area < -1e-9 if cull else np.abs(area) > 1e-9
    xmin = np.maximum(np.ceil(s[:, :, 0].min(1) - 0.5), 0).astype(np.int32)
    xmax = np.minimum(np.floor(s[:, :, 0].max(1) - 0.5), w - 1).astype(np.int32)
    ymin = np.maximum(np.ceil(s[:, :, 1].min(1) - 0.5), 0).astype(np.int32)
    ymax = np.minimum(np.floor(s[:, :, 1].max(1) - 0.5), h - 1).astype(np.int32)
    keep &= (xmax >= xmin) & (ymax >= ymin)
    ids = np.flatnonzero(keep)
    bw = (xmax - xmin + 1)[ids]
    bh = (ymax - ymin + 1)[ids]
    # bucket key: exact box size up to EXACT_PX, else the next power of two (per axis)
    qw = np.where(bw <= EXACT_PX, bw, 1 << np.ceil(np.log2(np.maximum(bw, 1))).astype(np.int64))
    qh = np.where(bh <= EXACT_PX, bh, 1 << np.ceil(np.log2(np.maximum(bh, 1))).astype(np.int64))
    key = qw.astype(np.int64) * 4096 + qh
    frag_pix: List[np.ndarray] = []
    frag_tri: List[np.ndarray] = []
    frag_b: List[np.ndarray] = []
    frag_z: List[np.ndarray] = []
    inv_area = (1.0 / np.where(keep, area, 1.0)).astype(np.float32)
    xminf, yminf = xmin.astype(np.float32), ymin.astype(np.float32)
    order_k = np.argsort(key, kind="stable")
    keys_sorted = key[order_k]
    starts = np.flatnonzero(np.r_[True, keys_sorted[1:] != keys_sorted[:-1]])
    ends = np.r_[starts[1:], keys_sorted.size]
    for k0, k1 in zip(starts, ends):
        nw, nh = int(keys_sorted[k0] // 4096), int(keys_sorted[k0] % 4096)
        sel = ids[order_k[k0:k1]]
        oy, ox = np.divmod(np.arange(nw * nh, dtype=np.int32), nw)    # (nw*nh,)
        oxf, oyf = ox.astype(np.float32) + 0.5, oy.astype(np.float32) + 0.5
        chunk = max(1, 2_000_000 // (nw * nh))
        for c0 in range(0, sel.size, chunk):
            t = sel[c0:c0 + chunk]                                     # (T,)
            qx = (xminf[t] - x0[t])[:, None] + oxf[None, :]            # (T, n) pixel centre - v0
            qy = (yminf[t] - y0[t])[:, None] + oyf[None, :]
            ia = inv_area[t, None]
            b1 = (qx * e2y[t, None] - qy * e2x[t, None]) * ia          # (T, n)
            b2 = (e1x[t, None] * qy - e1y[t, None] * qx) * ia
            inside = (b1 >= -1e-6) & (b2 >= -1e-6) & (b1 + b2 <= 1.0 + 1e-6)
            if nw > EXACT_PX or nh > EXACT_PX:                        # box smaller than its bucket
                inside &= ((xmin[t, None] + ox[None, :]) <= xmax[t, None]) & (
                    (ymin[t, None] + oy[None, :]) <= ymax[t, None])
            ti, ki = np.nonzero(inside)
            if ti.size == 0:
                continue
            bb1, bb2 = b1[ti, ki], b2[ti, ki]
            tt = t[ti]
            z = s[tt, 0, 2] * (1.0 - bb1 - bb2) + s[tt, 1, 2] * bb1 + s[tt, 2, 2] * bb2
            frag_pix.append((ymin[tt] + oy[ki]) * w + xmin[tt] + ox[ki])
            frag_tri.append(tt)
            frag_b.append(np.stack([bb1, bb2], axis=1))
            frag_z.append(z)
    img = np.empty((h * w, 3), dtype=np.float32)
    img[:] = np.asarray(background, np.float32)
    if not frag_pix:
        return img.reshape(h, w, 3)
    pix = np.concatenate(frag_pix)                                     # (N,)
    ftri = np.concatenate(frag_tri)
    fb = np.concatenate(frag_b)                                        # (N, 2)
    fz = np.concatenate(frag_z)
    zbuf = np.full(h * w, np.inf, dtype=np.float32)
    np.minimum.at(zbuf, pix, fz)                                       # nearest depth per pixel
    front = np.flatnonzero(fz <= zbuf[pix])                            # winning fragments
    winner = np.full(h * w, -1, dtype=np.int64)
    winner[pix[front]] = front
    hit = np.flatnonzero(winner >= 0)
    f = winner[hit]
    vt = tri[ftri[f]]                                                  # (P, 3)
    b1, b2 = fb[f, 0:1], fb[f, 1:2]
    col = colors[vt[:, 0]] * (1.0 - b1 - b2) + colors[vt[:, 1]] * b1 + colors[vt[:, 2]] * b2
    img[hit] = col
    return img.reshape(h, w, 3)


def render_frame(mesh: FaceMesh, weights, size: Tuple[int, int] = (480, 480),
                 camera: Camera = FRONT, light=DEFAULT_LIGHT, ambient: float = 0.35,
                 background=BACKGROUND) -> np.ndarray:
    """Render ``mesh`` deformed by (52,) ``weights`` -> (H, W, 3) uint8 image of ``size`` = (W,
    H)."""
    if len(size) != 2 or int(size[0]) < 8 or int(size[1]) < 8:
        raise EmotalkError(f"render size must be (W, H) with both >= 8, got {size}")
    verts = mesh.deform(weights)                                       # (V, 3)
    col = shade(verts, mesh.triangles, mesh.colors, light, ambient)    # (V, 3)
    scr = project(verts, size, camera)                                 # (V, 3)
    img = rasterize(scr, mesh.triangles, col, size, background)        # (H, W, 3)
    return (img * 255.0 + 0.5).astype(np.uint8)


def contact_sheet_poses() -> List[Tuple[str, np.ndarray]]:
    """(label, (52,) weights) pairs shown by :func:`render_contact_sheet`."""
    from emotalk_ros.core.emotions import EXPRESSIVE, FACS_GROUPS

    poses = [
        ("neutral", {}),
        ("jawOpen", {"jawOpen": 1.0}),
        ("jawOpen+mouthClose", {"jawOpen": 0.7, "mouthClose": 0.7}),
        ("smile", {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0, "cheekSquintLeft": 0.5,
                   "cheekSquintRight": 0.5}),
        ("mouthSmileLeft", {"mouthSmileLeft": 1.0}),
        ("eyeBlinkLeft", {"eyeBlinkLeft": 1.0}),
        ("funnel+jaw", {"mouthFunnel": 1.0, "jawOpen": 0.25}),
        ("pucker", {"mouthPucker": 1.0}),
        ("rollLower (f/v)", {"mouthRollLower": 1.0, "jawOpen": 0.1}),
        ("look left-up", {"eyeLookOutLeft": 0.8, "eyeLookInRight": 0.8, "eyeLookUpLeft": 0.6,
                          "eyeLookUpRight": 0.6}),
        ("cheekPuff", {"cheekPuff": 1.0}),
        ("tongueOut", {"tongueOut": 1.0, "jawOpen": 0.45}),
    ]
    out = [(label, to_vector(d)) for label, d in poses]
    for emo in EXPRESSIVE:
        v = np.zeros(NUM_BLENDSHAPES, np.float32)
        for n in FACS_GROUPS[emo]:
            v[INDEX[n]] = 0.8
        if emo == "surprised":
            v[INDEX["jawOpen"]] = 0.35
        if emo == "angry":
            v[INDEX["eyeWideLeft"]] = v[INDEX["eyeWideRight"]] = 0.0
        out.append((emo, v))
    return out


def render_contact_sheet(mesh: Optional[FaceMesh] = None, path: Optional[str] = None,
                         poses: Optional[Sequence[Tuple[str, np.ndarray]]] = None, cell: int = 256,
                         cols: int = 5, camera: Camera = THREE_QUARTER) -> np.ndarray:
    """Grid of labelled renders -> (H, W, 3) uint8; also written as a PNG when ``path`` is
    given."""
    from PIL import Image, ImageDraw

    mesh = mesh or FaceMesh.load()
    poses = list(poses) if poses is not None else contact_sheet_poses()
    rows = (len(poses) + cols - 1) // cols
    sheet = np.empty((rows * cell, cols * cell, 3), np.uint8)
    sheet[:] = (np.asarray(BACKGROUND) * 255.0 + 0.5).astype(np.uint8)
    for k, (_label, wts) in enumerate(poses):
        r, c = divmod(k, cols)
        sheet[r * cell:(r + 1) * cell, c * cell:(c + 1) * cell] = render_frame(
            mesh, wts, (cell, cell), camera)
    im = Image.fromarray(sheet)
    draw = ImageDraw.Draw(im)
    for k, (label, _) in enumerate(poses):
        r, c = divmod(k, cols)
        draw.text((c * cell + 6, r * cell + 4), label, fill=(235, 235, 235))
    if path:
        im.save(path)
    return np.asarray(im)


def weights_iter(frames: np.ndarray) -> Iterable[np.ndarray]:
    """Yield the rows (52,) of a (T, 52) array (a convenience for streaming renders)."""
    frames = np.asarray(frames, np.float32)
    if frames.ndim != 2 or frames.shape[1] != NUM_BLENDSHAPES:
        raise EmotalkError(f"frames must be (T, 52), got {frames.shape}")
    yield from frames
