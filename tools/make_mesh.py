#!/usr/bin/env python3
"""Generate ``models/face_mesh.npz``: a procedural head with the 52 ARKit blendshapes.

No scanned or licensed mesh is used: every vertex and every delta comes from the
formulas below (Apache-2.0, like the rest of the package). Run from the repository
root::

    .venv/bin/python tools/make_mesh.py [-o models/face_mesh.npz]

Head frame (metres): x right as the viewer sees the face (= the subject's LEFT),
y up, z forward out of the face; origin at the head centre on the eye line. ARKit
"Left" shapes act on the subject's left, i.e. at +x. The right-hand shapes are exact
mirror images (x -> -x) of the left-hand ones.

Parts: a head shell (a lat/long grid with a flattened-superellipse cross section,
denser on the face) cut open along the mouth line (separate upper/lower lip edges)
and the two eye lines (eyelid rims), eyeballs with iris/pupil colours, upper and
lower teeth, a tongue, a dark mouth cavity (wound inward, so it only shows through
the lips) and a neck. ``jawOpen`` is a rotation about a hinge near the ears baked as
a delta at full weight; ``mouthClose`` moves the lip edges so that
``jawOpen = mouthClose = 1`` closes them exactly; the eyelids slide over a sphere
around the eyeball.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from typing import Dict, List

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from emotalk_ros.core.blendshapes import INDEX, NAMES, NUM_BLENDSHAPES
from emotalk_ros.core.easing import smoothstep_between as smoothstep

# ---------------------------------------------------------------------------------------------
# Proportions (metres)
# ---------------------------------------------------------------------------------------------
YC, RY = -0.008, 0.125          # shell vertical centre and half height
W0, F0, B0 = 0.074, 0.092, 0.105  # half width, front depth, back depth
PX = 2.5                        # horizontal superellipse exponent (flatter face)
Y_E, X_E = 0.0, 0.032           # eye line, eye centre |x|
EYE_HW = 0.0118                 # half width of the eye opening
EYE_R = 0.0125                  # eyeball radius
LID_R = 0.0139                  # radius of the sphere the lids slide on
H_UP, H_LO = 0.0052, 0.0033     # rest opening of the upper / lower lid at the centre
Y_B = 0.021                     # brow line
Y_M, MW = -0.068, 0.0245        # mouth line, half mouth width (cut)
HINGE = np.array([0.0, -0.022, 0.004])  # jaw hinge (y, z used), rotation about +x
JAW_ANGLE = 0.33                # rad at jawOpen = 1
NCOL = 72

SKIN = np.array([0.87, 0.69, 0.58])
LIP = np.array([0.76, 0.40, 0.40])
HAIR = np.array([0.21, 0.145, 0.10])
BROW = np.array([0.27, 0.18, 0.13])

REGIONS = ("skin", "hair", "brow", "lip_upper", "lip_lower", "eyelid_upper", "eyelid_lower",
           "nose", "cheek", "jaw", "eye_left", "eye_right", "teeth_upper", "teeth_lower",
           "tongue", "mouth_cavity", "neck", "ear")
R = {n: i for i, n in enumerate(REGIONS)}


def gauss(x, y, cx, cy, sx, sy):
    """Anisotropic Gaussian bump exp(-((x-cx)/sx)^2 - ((y-cy)/sy)^2)."""
    return np.exp(-((x - cx) / sx) ** 2 - ((y - cy) / sy) ** 2)


def spow(v, p):
    """sign(v) * |v|**p."""
    return np.sign(v) * np.abs(v) ** p


def rot_x(theta):
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def rot_y(theta):
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


class Parts:
    """Accumulates vertices (V, 3), triangles (F, 3), colours, regions and mirror tags."""

    def __init__(self):
        self.v: List[np.ndarray] = []
        self.t: List[np.ndarray] = []
        self.c: List[np.ndarray] = []
        self.r: List[np.ndarray] = []
        self.tag: List[np.ndarray] = []
        self.n = 0
        self.slices: Dict[str, slice] = {}

    def add(self, name, verts, tris, colors, regions, tags=0.0):
        verts = np.asarray(verts, np.float64)
        k = verts.shape[0]
        self.v.append(verts)
        self.t.append(np.asarray(tris, np.int64) + self.n)
        self.c.append(np.broadcast_to(np.asarray(colors, np.float64), (k, 3)).copy())
        self.r.append(np.broadcast_to(np.asarray(regions), (k,)).astype(np.int16))
        self.tag.append(np.broadcast_to(np.asarray(tags, np.float64), (k,)).copy())
        self.slices[name] = slice(self.n, self.n + k)
        self.n += k

    def arrays(self):
        return (np.concatenate(self.v), np.concatenate(self.t), np.concatenate(self.c),
                np.concatenate(self.r), np.concatenate(self.tag))


def grid_tris(rows: int, cols: int, wrap: bool, idx=None):
    """Quads of a (rows, cols) vertex grid (row = +y-ish, col = +x-ish) -> triangles wound CCW."""
    if idx is None:
        idx = np.arange(rows * cols).reshape(rows, cols)
    tris = []
    ncol = cols if wrap else cols - 1
    for r in range(rows - 1):
        for j in range(ncol):
            j1 = (j + 1) % cols
            a, b, c, d = idx[r, j], idx[r, j1], idx[r + 1, j1], idx[r + 1, j]
            tris += [(a, b, c), (a, c, d)]
    return np.array(tris, np.int64)


def ellipsoid(center, radii, n_lat, n_lon, inward=False):
    """Closed UV ellipsoid with poles on +-y: vertices (V, 3), triangles (F, 3) CCW from
    outside."""
    lat = np.linspace(-np.pi / 2, np.pi / 2, n_lat + 2)[1:-1]
    lon = np.linspace(-np.pi, np.pi, n_lon, endpoint=False)
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    x = np.cos(la) * np.sin(lo)
    y = np.sin(la)
    z = np.cos(la) * np.cos(lo)
    v = np.stack([x, y, z], -1).reshape(-1, 3)
    v = np.vstack([v, [[0, -1, 0], [0, 1, 0]]]) * radii + center
    tris = list(grid_tris(n_lat, n_lon, True))
    bot, top = n_lat * n_lon, n_lat * n_lon + 1
    for j in range(n_lon):
        j1 = (j + 1) % n_lon
        tris.append((bot, j1, j))
        tris.append((top, (n_lat - 1) * n_lon + j, (n_lat - 1) * n_lon + j1))
    tris = np.array(tris, np.int64)
    if inward:
        tris = tris[:, ::-1]
    return v, tris


# ---------------------------------------------------------------------------------------------
# Head shell
# ---------------------------------------------------------------------------------------------

def row_values() -> np.ndarray:
    """Elevation angles (R,) of the shell rows, dense on the face, with rows exactly on the
    eye line and the mouth line."""
    ys = np.concatenate([np.arange(-0.118, -0.09, 0.0032), np.arange(-0.09, 0.03, 0.0024),
                         np.arange(0.03, 0.076, 0.0032)])
    for target in (Y_E, Y_M):
        ys[np.argmin(np.abs(ys - target))] = target
    e_face = np.arcsin((ys - YC) / RY)
    lo = np.arange(-np.pi / 2, e_face[0] - 0.05, 0.1)[1:]
    hi = np.arange(np.pi / 2, e_face[-1] + 0.05, -0.1)[1:][::-1]
    return np.concatenate([lo, e_face, hi])


def base_shell(e, a):
    """Base head surface (no features) at elevation ``e`` and azimuth ``a`` (broadcast) -> x, y,
    z."""
    y = YC + RY * np.sin(e)
    c = np.cos(e)
    cq = np.where(np.sin(e) > 0, c ** 0.55, c ** 0.5)
    w = W0 * (1.0 - 0.24 * smoothstep(-0.02, -0.115, y)) * (1.0 + 0.03 * smoothstep(0.0, 0.06, y))
    f = F0 * (1.0 - 0.05 * smoothstep(-0.07, -0.12, y))
    x = w * cq * spow(np.sin(a), 2.0 / PX)
    ca = np.cos(a)
    z = np.where(ca > 0, f, B0) * cq * spow(ca, 2.0 / PX) - 0.012 * smoothstep(0.03, 0.12, y)
    return x, np.broadcast_to(y, x.shape), z


def face_features(x, y, z, front):
    """Displacement in z of the facial features at (x, y) (metres), weighted by ``front``."""
    ax = np.abs(x)
    dz = np.zeros_like(x)
    dz += -0.011 * gauss(ax, y, X_E, 0.001, 0.019, 0.014)            # eye sockets
    dz += 0.0055 * gauss(ax, y, 0.027, Y_B + 0.002, 0.028, 0.008)    # brow ridge
    # nose: profile along the midline, width growing toward the tip
    prof = np.interp(y, [-0.052, -0.047, -0.040, -0.034, -0.024, -0.005, 0.012],
                     [0.0, 0.007, 0.018, 0.0215, 0.018, 0.0085, 0.0])
    sig = np.interp(y, [-0.05, -0.035, -0.01, 0.012], [0.0075, 0.0088, 0.0062, 0.0058])
    dz += prof * np.exp(-(x / sig) ** 2)
    dz += 0.0075 * gauss(ax, y, 0.0125, -0.040, 0.0055, 0.0065)     # alae
    dz += 0.008 * gauss(x, y, 0.0, Y_M, 0.03, 0.024)                 # muzzle over the teeth
    dz += 0.0035 * gauss(x, y, 0.0, Y_M + 0.0048, MW * 0.8, 0.0045)  # upper lip
    dz += 0.0048 * gauss(x, y, 0.0, Y_M - 0.0058, MW * 0.75, 0.0050)  # lower lip
    dz += -0.0025 * gauss(x, y, 0.0, Y_M, MW * 1.05, 0.0022)         # lip seam
    dz += -0.003 * gauss(x, y, 0.0, Y_M - 0.019, 0.015, 0.004)       # labiomental fold
    dz += 0.007 * gauss(x, y, 0.0, -0.100, 0.019, 0.012)             # chin
    dz += 0.006 * gauss(ax, y, 0.038, -0.028, 0.016, 0.016)          # cheeks
    dz += 0.004 * gauss(ax, y, 0.046, -0.010, 0.014, 0.010)          # cheekbones
    dz += -0.002 * gauss(ax, y, 0.030, Y_M + 0.003, 0.006, 0.012)    # nasolabial hollow
    return z + dz * front


def lid_sphere_z(x, y, cx, zc):
    """z of the sphere the eyelids slide on (radius LID_R around the eyeball centre)."""
    r2 = LID_R ** 2 - (x - cx) ** 2 - (y - Y_E) ** 2
    return zc + np.sqrt(np.maximum(r2, 0.0))


def socket_weight(x, y, cx):
    """1 where the shell follows the lid sphere, 0 where it is plain face."""
    rho = np.sqrt(((x - cx) / 0.0175) ** 2 + ((y - Y_E) / 0.0135) ** 2)
    return 1.0 - smoothstep(0.62, 1.0, rho)


def build_shell(parts: Parts):
    """Head shell grid with cuts along the mouth and eye lines; returns a dict of per-vertex
    info."""
    es = row_values()
    s = -1.0 + 2.0 * np.arange(NCOL) / NCOL
    az = np.pi * (0.3 * s + 0.7 * s ** 3)                   # (C,) dense on the front
    nrow = es.size
    ee, aa = np.meshgrid(es, az, indexing="ij")            # (R, C)
    x, y, z = base_shell(ee, aa)
    front = smoothstep(0.25, 0.65, np.cos(aa))
    z = face_features(x, y, z, front)
    r_e = int(np.argmin(np.abs(YC + RY * np.sin(es) - Y_E)))
    r_m = int(np.argmin(np.abs(YC + RY * np.sin(es) - Y_M)))
    frontcol = np.cos(az) > 0
    mouth_cut = frontcol & (np.abs(x[r_m]) < MW)
    eye_cut_l = frontcol & (np.abs(x[r_e] - X_E) < EYE_HW)
    eye_cut_r = frontcol & (np.abs(x[r_e] + X_E) < EYE_HW)

    # eyeball centres: recessed behind the base face
    _, _, zb = base_shell(np.arcsin((Y_E - YC) / RY), np.arcsin((X_E / W0) ** (PX / 2.0)))
    z_ec = float(zb) - 0.0185

    # vertex table: the grid, plus duplicates (the lower side) of the cut rows
    idx_up = np.arange(nrow * NCOL).reshape(nrow, NCOL)
    idx_lo = idx_up.copy()
    verts = [np.stack([x, y, z], -1).reshape(-1, 3)]
    y0 = [y.reshape(-1)]
    side_m = np.zeros(nrow * NCOL)   # +1 upper lip edge, -1 lower lip edge
    side_e = np.zeros(nrow * NCOL)   # +1 upper lid rim, -1 lower lid rim
    extra = []
    nxt = nrow * NCOL
    for r, cut, sm in ((r_m, mouth_cut, True), (r_e, eye_cut_l | eye_cut_r, False)):
        for j in np.flatnonzero(cut):
            idx_lo[r, j] = nxt
            extra.append((r, j, sm))
            nxt += 1
    for r, j, sm in extra:
        verts.append(np.array([[x[r, j], y[r, j], z[r, j]]]))
        y0.append(np.array([y[r, j]]))
        if sm:
            side_m[idx_up[r, j]] = 1
        else:
            side_e[idx_up[r, j]] = 1
    side_m = np.concatenate([side_m, [(-1 if sm else 0) for (_, _, sm) in extra]])
    side_e = np.concatenate([side_e, [(0 if sm else -1) for (_, _, sm) in extra]])
    P = np.concatenate(verts)
    Y0 = np.concatenate(y0)
    col = np.concatenate([np.repeat(np.arange(NCOL)[None], nrow, 0).reshape(-1),
                          [j for (_, j, _) in extra]])
    FR = np.concatenate([front.reshape(-1), [front[r, j] for (r, j, _) in extra]])

    # triangles: quad (r, r+1) uses the upper copy of row r and the lower copy of row r+1
    tris = []
    for r in range(nrow - 1):
        for j in range(NCOL):
            j1 = (j + 1) % NCOL
            a, b = idx_up[r, j], idx_up[r, j1]
            c, d = idx_lo[r + 1, j1], idx_lo[r + 1, j]
            tris += [(a, b, c), (a, c, d)]
    nv = P.shape[0]
    bot = np.array([[0.0, YC - RY, 0.0]])
    topv = np.array([[0.0, YC + RY, -0.012]])
    P = np.vstack([P, bot, topv])
    Y0 = np.concatenate([Y0, [YC - RY, YC + RY]])
    side_m = np.concatenate([side_m, [0, 0]])
    side_e = np.concatenate([side_e, [0, 0]])
    col = np.concatenate([col, [-1, -1]])
    FR = np.concatenate([FR, [0, 0]])
    for j in range(NCOL):
        j1 = (j + 1) % NCOL
        tris.append((nv, idx_lo[0, j1], idx_lo[0, j]))
        tris.append((nv + 1, idx_up[nrow - 1, j], idx_up[nrow - 1, j1]))
    tris = np.array(tris, np.int64)

    # eye openings: rims pushed apart, lids wrapped on the lid sphere
    X = P[:, 0]
    prof_e = np.zeros(P.shape[0])
    for sgn, cut in ((1.0, eye_cut_l), (-1.0, eye_cut_r)):
        cx = sgn * X_E
        xs = x[r_e]
        outer = xs[np.flatnonzero(cut)]
        x_in, x_out = outer.min(), outer.max()
        jj = np.arange(NCOL)
        left_corner = xs[jj[~cut & (xs < x_in) & frontcol]].max()
        right_corner = xs[jj[~cut & (xs > x_out) & frontcol]].min()
        t = np.where(X >= cx, (X - cx) / (right_corner - cx), (cx - X) / (cx - left_corner))
        prof = np.clip(1.0 - t ** 2, 0.0, 1.0) ** 0.6
        ws = socket_weight(X, P[:, 1], cx) * (FR > 0.5)
        zl = lid_sphere_z(X, P[:, 1], cx, z_ec)
        P[:, 2] += ws * np.maximum(zl - P[:, 2], 0.0)
        prof_e = np.where(np.abs(X - cx) < 0.03, prof, prof_e)
        up = (Y0 > Y_E) | (side_e > 0)
        lo = (Y0 < Y_E) | (side_e < 0)
        dy = np.where(up, H_UP * prof * np.exp(-((Y0 - Y_E) / 0.0075) ** 2), 0.0)
        dy -= np.where(lo, H_LO * prof * np.exp(-((Y0 - Y_E) / 0.0065) ** 2), 0.0)
        dy *= (np.abs(X - cx) < 0.03) * (FR > 0.5)
        zb0 = lid_sphere_z(X, P[:, 1], cx, z_ec)
        P[:, 1] += dy
        P[:, 2] += ws * (lid_sphere_z(X, P[:, 1], cx, z_ec) - zb0)
    info = dict(Y0=Y0, side_m=side_m, side_e=side_e, col=col, front=FR, r_e=r_e, r_m=r_m,
                z_ec=z_ec, idx_up=idx_up, idx_lo=idx_lo, mouth_cut=mouth_cut, x_rows=x,
                eye_cut_l=eye_cut_l, prof_e=prof_e)
    return P, tris, info


# ---------------------------------------------------------------------------------------------
# Colours and regions of the shell
# ---------------------------------------------------------------------------------------------

def shell_colors(P, info):
    X, Y, Z = P[:, 0], info["Y0"], P[:, 2]
    ax = np.abs(X)
    fr = info["front"]
    col = np.tile(SKIN, (P.shape[0], 1))
    reg = np.full(P.shape[0], R["skin"], np.int16)
    # blush on the cheeks, slightly pinker nose tip and ears
    blush = 0.35 * gauss(ax, Y, 0.040, -0.030, 0.014, 0.012) * fr
    col = col * (1 - blush[:, None]) + np.array([0.90, 0.58, 0.52]) * blush[:, None]
    # lips
    tu = (0.0072 + 0.0016 * np.exp(-((ax - 0.0065) / 0.004) ** 2)) * np.sqrt(
        np.clip(1 - (X / 0.0265) ** 2, 0, 1))
    tl = 0.0095 * np.sqrt(np.clip(1 - (X / 0.0255) ** 2, 0, 1))
    d = Y - Y_M
    lip_u = smoothstep(tu + 0.0012, tu - 0.0012, d) * (d >= 0) * (info["side_m"] >= 0)
    lip_l = smoothstep(tl + 0.0012, tl - 0.0012, -d) * (d <= 0) * (info["side_m"] <= 0)
    lip = np.maximum(lip_u, lip_l) * (fr > 0.5) * smoothstep(0.029, 0.025, ax)
    lip_u, lip_l = lip_u * (lip > 0), lip_l * (lip > 0)
    col = col * (1 - lip[:, None]) + LIP * lip[:, None]
    col[info["side_m"] != 0] = LIP * 0.7
    reg[(lip_u > 0.5) & (fr > 0.5)] = R["lip_upper"]
    reg[(lip_l > 0.5) & (fr > 0.5)] = R["lip_lower"]
    # brows
    for sgn in (1.0, -1.0):
        xl = sgn * X
        x_in, x_out = X_E - 0.019, X_E + 0.021
        u = np.clip((xl - x_in) / (x_out - x_in), 0, 1)
        yc = Y_B + 0.0045 * np.sin(np.pi * np.clip(u * 0.85 + 0.1, 0, 1)) - 0.002 * u
        th = 0.0040 - 0.0022 * u
        m = (
            smoothstep(th + 0.0012, th - 0.0008, np.abs(Y - yc))
            * smoothstep(x_in - 0.002, x_in + 0.002, xl)
            * smoothstep(x_out + 0.002, x_out - 0.003, xl)
            * (fr > 0.5)
        )
        col = col * (1 - m[:, None]) + BROW * m[:, None]
        reg[m > 0.5] = R["brow"]
    # eyelid lines (lash line darker on the upper rim)
    rim_u = info["side_e"] > 0
    col[rim_u] = np.array([0.25, 0.16, 0.13])
    col[info["side_e"] < 0] = np.array([0.78, 0.55, 0.50])
    for sgn in (1.0, -1.0):
        sock = socket_weight(X, Y, sgn * X_E) * (fr > 0.5)
        reg[(sock > 0.5) & (Y >= Y_E) & (reg == R["skin"])] = R["eyelid_upper"]
        reg[(sock > 0.5) & (Y < Y_E) & (reg == R["skin"])] = R["eyelid_lower"]
    # nostrils
    nos = gauss(ax, Y, 0.0062, -0.0465, 0.0028, 0.0022) * (fr > 0.5)
    col = col * (1 - 0.6 * nos[:, None]) + np.array([0.35, 0.2, 0.18]) * 0.6 * nos[:, None]
    nose = (gauss(X, Y, 0.0, -0.025, 0.012, 0.024) > 0.5) & (fr > 0.5) & (reg == R["skin"])
    reg[nose] = R["nose"]
    cheek = (gauss(ax, Y, 0.040, -0.025, 0.016, 0.016) > 0.5) & (fr > 0.5) & (reg == R["skin"])
    reg[cheek] = R["cheek"]
    # ears
    ear = gauss(Y, Z, -0.012, -0.004, 0.021, 0.012) * smoothstep(0.05, 0.065, ax)
    reg[(ear > 0.4)] = R["ear"]
    col = col * (1 - 0.3 * ear[:, None]) + np.array([0.88, 0.62, 0.55]) * 0.3 * ear[:, None]
    # hair: above the hairline on the front, the whole back and the sides above the ears
    hl = 0.072 - 0.028 * smoothstep(0.025, 0.068, ax)
    h_front = smoothstep(hl - 0.002, hl + 0.003, Y)
    h_back = smoothstep(-0.005, -0.035, Z) * smoothstep(-0.045, -0.03, Y)
    h_side = smoothstep(0.045, 0.015, Z) * smoothstep(0.012, 0.02, Y) * smoothstep(0.05, 0.06, ax)
    hair = np.maximum.reduce([h_front, h_back, h_side]) * (ear < 0.3)
    col = col * (1 - hair[:, None]) + HAIR * hair[:, None]
    reg[hair > 0.5] = R["hair"]
    return col, reg


def jaw_weight(P, info):
    """(V,) how much each shell vertex follows the jaw (0 skull ... 1 chin, lower lip)."""
    X, Y0, Z = P[:, 0], info["Y0"], P[:, 2]
    ax = np.abs(X)
    sm = info["side_m"]
    inner = np.where(sm < 0, 1.0, np.where(sm > 0, 0.0, (Y0 < Y_M).astype(float)))
    yth = Y_M + 0.004 + 0.45 * np.maximum(ax - MW, 0.0)
    outer = smoothstep(yth, yth - 0.022, Y0)
    c = smoothstep(MW * 0.7, MW + 0.012, ax)
    w = (1 - c) * inner + c * outer
    return w * smoothstep(-0.01, 0.035, Z)


# ---------------------------------------------------------------------------------------------
# Other parts
# ---------------------------------------------------------------------------------------------

def eyeball(cx, zc):
    """UV sphere with its pole on +z (front): iris/pupil rings. Returns verts, tris, colours."""
    thetas = np.array(
        [0.13, 0.22, 0.27, 0.36, 0.44, 0.50, 0.62, 0.8, 1.0, 1.25, 1.55, 1.9, 2.3, 2.7]
    )
    nphi = 20
    phis = 2 * np.pi * np.arange(nphi) / nphi
    th, ph = np.meshgrid(thetas, phis, indexing="ij")
    v = np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], -1).reshape(-1, 3)
    v = np.vstack([[[0, 0, 1]], v, [[0, 0, -1]]])
    n_ring = thetas.size
    tris = []
    for i in range(n_ring - 1):
        for j in range(nphi):
            j1 = (j + 1) % nphi
            a, b = 1 + i * nphi + j, 1 + i * nphi + j1
            c, d = 1 + (i + 1) * nphi + j1, 1 + (i + 1) * nphi + j
            tris += [(a, d, c), (a, c, b)]
    last = 1 + n_ring * nphi
    for j in range(nphi):
        j1 = (j + 1) % nphi
        tris.append((0, 1 + j, 1 + j1))
        tris.append((last, 1 + (n_ring - 1) * nphi + j1, 1 + (n_ring - 1) * nphi + j))
    theta_all = np.arccos(np.clip(v[:, 2], -1, 1))
    iris = np.array([0.30, 0.20, 0.12])
    white = np.array([0.93, 0.91, 0.88])
    col = np.where((theta_all < 0.20)[:, None], np.array([0.03, 0.03, 0.03]),
                   np.where((theta_all < 0.46)[:, None], iris, white))
    col = np.where((np.abs(theta_all - 0.36) < 0.05)[:, None], iris * 1.5, col)
    return v * EYE_R + np.array([cx, Y_E, zc]), np.array(tris, np.int64), col


def arch(z_front, y_top, y_bot, radius, depth, n=19, rows=3):
    """Curved band (teeth): verts (rows*n, 3) on an arch in xz; rows from y_bot (0) to y_top."""
    t = np.linspace(-1.25, 1.25, n)
    ys = np.linspace(y_bot, y_top, rows)
    x = radius * np.sin(t)
    z = z_front - depth * (1 - np.cos(t))
    v = np.array([[x[j], ys[r], z[j]] for r in range(rows) for j in range(n)])
    return v, grid_tris(rows, n, False)


def cylinder(center_xz, radii, y0, y1, n=24, rows=6):
    """Open vertical cylinder (the neck), wound outward."""
    ang = np.linspace(-np.pi, np.pi, n, endpoint=False)
    ys = np.linspace(y0, y1, rows)
    v = np.array([[center_xz[0] + radii[0] * np.sin(a), y, center_xz[1] + radii[1] * np.cos(a)]
                  for y in ys for a in ang])
    return v, grid_tris(rows, n, True)


# ---------------------------------------------------------------------------------------------
# Deltas
# ---------------------------------------------------------------------------------------------

def build():
    parts = Parts()
    P_sh, T_sh, info = build_shell(parts)
    col_sh, reg_sh = shell_colors(P_sh, info)
    tag_sh = np.where(info["side_m"] > 0, 1.0, np.where(info["side_m"] < 0, 2.0, 0.0))
    tag_sh += np.where(info["side_e"] > 0, 3.0, np.where(info["side_e"] < 0, 4.0, 0.0))
    jw = jaw_weight(P_sh, info)
    reg_sh = np.where((reg_sh == R["skin"]) & (jw > 0.5) & (info["front"] > 0.3), R["jaw"], reg_sh)
    parts.add("shell", P_sh, T_sh, col_sh, reg_sh, tag_sh)

    z_ec = info["z_ec"]
    for name, sgn in (("eye_left", 1.0), ("eye_right", -1.0)):
        v, t, c = eyeball(sgn * X_E, z_ec)
        parts.add(name, v, t, c, R[name], 10.0)

    up_mid = info["idx_up"][info["r_m"], NCOL // 2]
    z_slit = P_sh[up_mid, 2]
    v, t = arch(z_slit - 0.0045, Y_M + 0.009, Y_M - 0.0036, 0.021, 0.017, rows=4)
    c = np.tile(np.array([0.90, 0.88, 0.80]), (v.shape[0], 1))
    c[v[:, 1] > Y_M + 0.005] = np.array([0.80, 0.48, 0.48])
    parts.add("teeth_upper", v, t, c, R["teeth_upper"], 20.0)
    v, t = arch(z_slit - 0.0062, Y_M - 0.0022, Y_M - 0.012, 0.0195, 0.017, rows=4)
    c = np.tile(np.array([0.86, 0.84, 0.76]), (v.shape[0], 1))
    c[v[:, 1] < Y_M - 0.009] = np.array([0.80, 0.48, 0.48])
    parts.add("teeth_lower", v, t, c, R["teeth_lower"], 21.0)
    v, t = ellipsoid(
        np.array([0.0, Y_M - 0.0115, z_slit - 0.027]), np.array([0.0155, 0.0055, 0.019]), 9, 16
    )
    parts.add("tongue", v, t, np.array([0.80, 0.40, 0.43]), R["tongue"], 22.0)
    cav_c = np.array([0.0, Y_M - 0.006, z_slit - 0.024])
    v, t = ellipsoid(cav_c, np.array([0.027, 0.021, 0.026]), 12, 20, inward=True)
    shade = 0.55 + 0.45 * np.clip((v[:, 2] - cav_c[2]) / 0.026, 0, 1)
    parts.add(
        "mouth_cavity",
        v,
        t,
        np.array([0.30, 0.07, 0.08]) * shade[:, None],
        R["mouth_cavity"],
        23.0,
    )
    v, t = cylinder((0.0, -0.022), (0.047, 0.054), -0.215, -0.092)
    parts.add("neck", v, t, SKIN * 0.93, R["neck"], 24.0)

    P, T, C, REG, TAG = parts.arrays()
    V = P.shape[0]
    sl = parts.slices
    mirror = mirror_map(P, TAG)

    # ---- per-vertex helper fields
    X, Y, Z = P[:, 0], P[:, 1], P[:, 2]
    shell = np.zeros(V, bool)
    shell[sl["shell"]] = True
    Y0 = np.full(V, np.nan)
    Y0[sl["shell"]] = info["Y0"]
    Y0 = np.where(shell, Y0, Y)
    FR = np.zeros(V)
    FR[sl["shell"]] = info["front"]
    side_m = np.zeros(V)
    side_m[sl["shell"]] = info["side_m"]
    side_e = np.zeros(V)
    side_e[sl["shell"]] = info["side_e"]
    colv = np.full(V, -1)
    colv[sl["shell"]] = info["col"]
    prof_e = np.zeros(V)
    prof_e[sl["shell"]] = info["prof_e"]
    jaw = np.zeros(V)
    jaw[sl["shell"]] = jw
    for k in ("teeth_lower", "tongue"):
        jaw[sl[k]] = 1.0
    jaw[sl["mouth_cavity"]] = smoothstep(Y_M + 0.004, Y_M - 0.012, Y[sl["mouth_cavity"]])
    frontm = shell & (FR > 0.5)
    mouthish = frontm | np.isin(REG, [R["teeth_lower"], R["teeth_upper"], R["tongue"]])
    ax = np.abs(X)
    upper = ((Y0 > Y_M) | (side_m > 0)) & (side_m >= 0)
    lower = ((Y0 < Y_M) | (side_m < 0)) & (side_m <= 0)
    lat = 1.0 - smoothstep(MW * 0.75, MW + 0.006, ax)  # 1 inside the mouth, 0 beyond corners
    band_u = np.where(upper & frontm, np.exp(-((Y0 - Y_M) / 0.009) ** 2), 0.0)
    band_l = np.where(lower & frontm, np.exp(-((Y0 - Y_M) / 0.009) ** 2), 0.0)
    corner_l = np.array([MW + 0.002, Y_M, 0.0])

    D: Dict[str, np.ndarray] = {}

    def vec(dx, dy, dz, wgt):
        out = np.zeros((V, 3))
        out[:, 0], out[:, 1], out[:, 2] = dx * wgt, dy * wgt, dz * wgt
        return out

    # ---- jaw
    Rj = rot_x(JAW_ANGLE)
    rel = P - HINGE * np.array([0, 1, 1])
    J = (rel @ Rj.T - rel) * jaw[:, None]                         # (V, 3)
    D["jawOpen"] = J
    D["jawForward"] = vec(0, 0, 0.0075, jaw)
    D["jawLeft"] = vec(0.009, 0, 0, jaw)

    # ---- mouthClose: lip edges meet exactly against the open jaw (upper 40 %, lower 60 %)
    a = 0.4
    row_lo = info["idx_lo"][info["r_m"]]                     # (C,) lower copy of the mouth row
    J_row = np.zeros((V, 3))
    has = colv >= 0
    J_row[has] = J[row_lo[colv[has]]]
    band = np.where(frontm, np.exp(-((Y0 - Y_M) / 0.009) ** 2), 0.0)
    mc = (a * J_row - J) * band[:, None]
    mc[side_m != 0] = (a * J_row - J)[side_m != 0]
    D["mouthClose"] = mc

    lipmask = gauss(X, Y0, 0.0, Y_M, MW * 1.15, 0.013) * frontm
    prof = np.clip(1 - (X / MW) ** 2, 0, 1)
    D["mouthFunnel"] = (
        vec(-0.30 * X, 0, 0.008, lipmask)
        + vec(0, 0.0045, 0.002, prof * band_u * (1 - smoothstep(0, 0.008, Y0 - Y_M)))
        + vec(0, -0.0055, 0.002, prof * band_l * (1 - smoothstep(0, 0.009, Y_M - Y0)))
    )
    D["mouthPucker"] = (vec(-0.42 * X, 0, 0.011, lipmask)
                        + vec(0, -0.0008, 0.0, band_u * lat) + vec(0, 0.0008, 0.0, band_l * lat))
    D["mouthLeft"] = vec(
        0.009,
        0,
        -0.001,
        gauss(X, Y0, 0.0, Y_M, 0.032, 0.02)
        * mouthish
        * (REG != R["tongue"])
        * ((REG != R["teeth_upper"]) & (REG != R["teeth_lower"])),
    )
    # corners (left = +x)
    kc = gauss(X, Y0, corner_l[0], Y_M, 0.013, 0.013) * frontm
    kw = gauss(X, Y0, corner_l[0], Y_M, 0.018, 0.016) * frontm
    cheek_l = gauss(X, Y0, 0.038, -0.030, 0.014, 0.013) * frontm
    D["mouthSmileLeft"] = vec(0.0055, 0.0085, -0.004, kc) + vec(0, 0.003, 0.002, cheek_l)
    D["mouthFrownLeft"] = vec(0.0015, -0.0075, -0.001, kc)
    D["mouthDimpleLeft"] = vec(0.004, 0.0008, -0.006, kc)
    D["mouthStretchLeft"] = vec(0.0085, -0.004, -0.003, kw)
    half_l = smoothstep(-0.012, 0.012, X)
    D["mouthPressLeft"] = (vec(0, -0.0015, -0.0022, band_u * half_l * lat)
                           + vec(0, 0.0015, -0.0022, band_l * half_l * lat))
    D["mouthLowerDownLeft"] = vec(0, -0.0065, 0.001, band_l * half_l * lat
                                  * (1 - smoothstep(0.006, 0.02, Y_M - Y0)))
    D["mouthUpperUpLeft"] = vec(0, 0.0055, 0.001, band_u * half_l * lat
                                * (1 - smoothstep(0.006, 0.016, Y0 - Y_M)))
    # rolls and shrugs
    tl = np.clip(1 - (Y_M - Y0) / 0.012, 0, 1) * lower * frontm * lat
    D["mouthRollLower"] = vec(0, 0.0035, 0, tl) + vec(0, 0, -0.0075, tl ** 2)
    tu = np.clip(1 - (Y0 - Y_M) / 0.011, 0, 1) * upper * frontm * lat
    D["mouthRollUpper"] = vec(0, -0.003, 0, tu) + vec(0, 0, -0.0065, tu ** 2)
    gl = gauss(X, Y0, 0.0, Y_M - 0.013, 0.022, 0.012) * lower * frontm
    D["mouthShrugLower"] = vec(0, 0.0035, 0.0025, gl)
    gu = gauss(X, Y0, 0.0, Y_M + 0.006, 0.02, 0.007) * upper * frontm
    D["mouthShrugUpper"] = vec(0, 0.0025, 0.0018, gu)

    # ---- brows (left = +x)
    gi = gauss(ax, Y0, 0.013, Y_B + 0.002, 0.012, 0.012) * frontm
    D["browInnerUp"] = vec(0, 0.0062, 0, gi) + vec(
        0, 0.0025, 0, gauss(X, Y0, 0, Y_B + 0.015, 0.025, 0.015) * frontm
    )
    bl = gauss(X, Y0, X_E - 0.004, Y_B + 0.002, 0.02, 0.009) * frontm
    D["browDownLeft"] = vec(-0.0022, -0.0055, 0.0008, bl)
    D["browOuterUpLeft"] = vec(
        0, 0.0065, 0, gauss(X, Y0, X_E + 0.014, Y_B + 0.002, 0.013, 0.011) * frontm
    )
    # ---- cheeks, nose
    gp = gauss(ax, Y0, 0.036, Y_M + 0.006, 0.017, 0.017) * frontm
    D["cheekPuff"] = vec(np.sign(X) * 0.0065, 0, 0.0045, gp)
    D["cheekSquintLeft"] = vec(
        0, 0.0042, 0.0012, gauss(X, Y0, 0.040, -0.020, 0.014, 0.011) * frontm
    )
    D["noseSneerLeft"] = vec(
        0, 0.0045, 0.0008, gauss(X, Y0, 0.012, -0.036, 0.0075, 0.011) * frontm
    ) + vec(0, 0.0015, 0, gauss(X, Y0, 0.012, Y_M + 0.012, 0.01, 0.008) * upper * frontm)
    # ---- tongue
    tng = np.zeros(V)
    tng[sl["tongue"]] = 1.0
    D["tongueOut"] = vec(0, -0.004, 0.030, tng)

    # ---- eyes (left = +x): lids slide on the lid sphere
    def lid_move(amount_up, amount_lo, cx=X_E):
        """Delta moving the left upper rim by ``amount_up`` (m, +up) and lower rim by
        ``amount_lo``."""
        eyel = frontm & (np.abs(X - cx) < 0.03)
        pr = prof_e
        up = eyel & ((Y0 > Y_E) | (side_e > 0)) & (side_e >= 0)
        lo = eyel & ((Y0 < Y_E) | (side_e < 0)) & (side_e <= 0)
        dy = np.zeros(V)
        dy[up] = amount_up * pr[up] * np.exp(-((Y0[up] - Y_E) / 0.0085) ** 2)
        dy[lo] = amount_lo * pr[lo] * np.exp(-((Y0[lo] - Y_E) / 0.007) ** 2)
        ws = socket_weight(X, Y, cx) * eyel
        dz = ws * (lid_sphere_z(X, Y + dy, cx, z_ec) - lid_sphere_z(X, Y, cx, z_ec))
        return np.stack([np.zeros(V), dy, dz], -1)

    gap = H_UP + H_LO
    D["eyeBlinkLeft"] = lid_move(-0.8 * gap, 0.2 * gap)
    D["eyeSquintLeft"] = lid_move(-0.15 * gap, 0.35 * gap) + vec(0, 0.002, 0.0008, gauss(
        X, Y0, 0.040, -0.016, 0.012, 0.008) * frontm)
    D["eyeWideLeft"] = lid_move(0.0032, -0.0008)
    eye_l = np.zeros(V, bool)
    eye_l[sl["eye_left"]] = True
    ec = np.array([X_E, Y_E, z_ec])

    def eye_rot(Rm):
        out = np.zeros((V, 3))
        out[eye_l] = (P[eye_l] - ec) @ Rm.T + ec - P[eye_l]
        return out

    D["eyeLookUpLeft"] = eye_rot(rot_x(-0.30)) + lid_move(0.0015, 0.0006)
    D["eyeLookDownLeft"] = eye_rot(rot_x(0.36)) + lid_move(-0.0028, -0.0006)
    D["eyeLookInLeft"] = eye_rot(rot_y(-0.38))
    D["eyeLookOutLeft"] = eye_rot(rot_y(0.38))

    # ---- right = mirror of left
    flip = np.array([-1.0, 1.0, 1.0])
    for n in NAMES:
        if n in D:
            continue
        src = n.replace("Right", "Left")
        if src == n or src not in D:
            raise SystemExit(f"make_mesh: no delta for {n}")
        D[n] = D[src][mirror] * flip
    deltas = np.stack([D[n] for n in NAMES]).astype(np.float32)   # (52, V, 3)
    deltas[np.abs(deltas) < 2e-6] = 0.0

    landmarks = {
        "chin": int(
            np.argmin(np.where(shell & (np.abs(X) < 1e-9) & (Z > 0), np.abs(Y - (-0.104)), 9))
        ),
        "lip_upper_mid": int(up_mid),
        "lip_lower_mid": int(info["idx_lo"][info["r_m"], NCOL // 2]),
        "nose_tip": int(np.argmax(np.where(shell & (np.abs(Y) < 0.05), Z, -9))),
        "pupil_left": int(sl["eye_left"].start),
        "pupil_right": int(sl["eye_right"].start),
    }
    cut_cols = np.flatnonzero(info["mouth_cut"])
    landmarks["mouth_corner_left"] = int(info["idx_up"][info["r_m"], cut_cols.max() + 1])
    landmarks["mouth_corner_right"] = int(info["idx_up"][info["r_m"], cut_cols.min() - 1])
    ecols = np.flatnonzero(info["eye_cut_l"])
    jm = int(ecols[np.argmin(np.abs(info["x_rows"][info["r_e"], ecols] - X_E))])
    landmarks["lid_upper_left"] = int(info["idx_up"][info["r_e"], jm])
    landmarks["lid_lower_left"] = int(info["idx_lo"][info["r_e"], jm])
    landmarks["lid_upper_right"] = int(mirror[landmarks["lid_upper_left"]])
    landmarks["lid_lower_right"] = int(mirror[landmarks["lid_lower_left"]])
    landmarks["brow_inner_left"] = int(
        np.argmin(np.where(frontm, (X - 0.014) ** 2 + (Y - Y_B) ** 2, 9))
    )
    landmarks["brow_inner_right"] = int(mirror[landmarks["brow_inner_left"]])
    landmarks["cheek_left"] = int(
        np.argmin(np.where(frontm, (X - 0.036) ** 2 + (Y - Y_M - 0.006) ** 2, 9))
    )
    landmarks["cheek_right"] = int(mirror[landmarks["cheek_left"]])
    return dict(vertices=P.astype(np.float32), triangles=T.astype(np.int32),
                colors=np.clip(C, 0, 1).astype(np.float32), regions=REG.astype(np.int16),
                region_names=np.array(REGIONS), deltas=deltas, names=np.array(NAMES),
                landmark_names=np.array(list(landmarks)),
                landmark_index=np.array(list(landmarks.values()), np.int32),
                mirror=mirror.astype(np.int32))


def mirror_map(P, tag):
    """(V,) index of each vertex's mirror image (x -> -x, same tag); exits if the mesh is
    asymmetric."""
    from scipy.spatial import cKDTree

    key = np.column_stack([P, tag])
    tree = cKDTree(key)
    q = key.copy()
    q[:, 0] *= -1
    d, i = tree.query(q)
    if d.max() > 1e-7:
        raise SystemExit(f"make_mesh: mesh is not mirror-symmetric (max {d.max():.2e} m)")
    return i


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default=os.path.join(ROOT, "models", "face_mesh.npz"))
    args = ap.parse_args(argv)
    data = build()
    assert data["deltas"].shape[0] == NUM_BLENDSHAPES and INDEX["jawOpen"] == list(NAMES).index(
        "jawOpen"
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    np.savez_compressed(args.output, **data)
    with open(args.output, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    sys.stdout.write(
        f"wrote {args.output}: {data['vertices'].shape[0]} vertices, "
        f"{data['triangles'].shape[0]} triangles, {os.path.getsize(args.output)} bytes, "
        f"sha256 {digest}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
