"""``face_mesh`` node: the deformed face mesh as an RViz marker.

Subscribes
    ``face/blendshapes`` (sensor_msgs/JointState, QoS ``qos.FACE_STREAM_BEST_EFFORT``):
    named ARKit weights (any accepted spelling; names mapped with
    ``blendshapes.name_index``). A message with no names but 52 positions is read in
    canonical streaming order. Unknown names are skipped, NaN/Inf become 0 and values
    are clamped to [0, 1]; a message whose names and positions differ in length is
    dropped. Each problem gets a throttled warning; the node never crashes on input.

Publishes
    ``face/mesh`` (visualization_msgs/Marker, TRIANGLE_LIST, QoS ``qos.MESH``): the
    mesh of :class:`emotalk_ros.mesh.FaceMesh` deformed by the latest weights, one
    point and one Lambert-shaded colour per triangle corner, in ``frame_id``. The points
    are in the mesh's head frame; the marker pose rotates it into REP-103 (x forward out
    of the face, y the subject's left, z up), so the face stands upright in RViz. Published
    on each received frame, at most ``max_rate_hz`` (a frame arriving sooner is held
    and published by a timer at that rate). Only the points of vertices that moved
    are rewritten between messages.

Parameters
    ``frame_id`` (string, default ``face``): header frame of the marker.
    ``max_rate_hz`` (double, 0.5-120, default 30): publishing rate limit.
    ``mesh.path`` (string, read-only, default empty = the shipped models/face_mesh.npz).
    ``mesh.front_only`` (bool, read-only, default true): publish only the front half of
    the head (about half the triangles; the Marker conversion costs ~3 us per point).
    ``shading.ambient`` (double, 0-1, default 0.35): ambient light fraction.
    ``scale`` (double, 0.1-10, default 1): marker scale (1 = life size, metres).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
from geometry_msgs.msg import Point
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker

from . import qos
from .blendshapes import NUM_BLENDSHAPES, name_index
from .errors import EmotalkError
from .mesh import FaceMesh, shade
from .ros_util import ParamSpec, declare_parameters, run_node

PARAMS = (
    ParamSpec("frame_id", "face", "frame of the published marker"),
    ParamSpec("max_rate_hz", 30.0, "maximum face/mesh publishing rate (Hz)", 0.5, 120.0),
    ParamSpec("mesh.path", "", "face mesh .npz (empty: the shipped models/face_mesh.npz)",
              read_only=True),
    ParamSpec("mesh.front_only", True, "publish only the front half of the head", read_only=True),
    ParamSpec("shading.ambient", 0.35, "ambient light fraction of the vertex shading", 0.0, 1.0),
    ParamSpec("scale", 1.0, "marker scale (1 = metres, life size)", 0.1, 10.0),
)


@dataclass(frozen=True)
class FaceMeshConfig:
    """Node parameters as a frozen config."""

    frame_id: str = "face"
    max_rate_hz: float = 30.0
    mesh_path: str = ""
    front_only: bool = True
    ambient: float = 0.35
    scale: float = 1.0


def weights_from_joint_state(names, positions) -> tuple:
    """JointState names/positions -> ((52,) float32 sanitised weights, list of problems).

    Raises :class:`EmotalkError` when the message cannot be used at all.
    """
    pos = np.asarray(positions, dtype=np.float64).reshape(-1)
    problems = []
    w = np.zeros(NUM_BLENDSHAPES, np.float32)
    if len(names) == 0:
        if pos.size != NUM_BLENDSHAPES:
            raise EmotalkError(f"JointState without names must carry 52 positions, got {pos.size}")
        w[:] = pos
    else:
        if len(names) != pos.size:
            raise EmotalkError(f"JointState has {len(names)} names but {pos.size} positions")
        unknown = []
        for n, v in zip(names, pos):
            try:
                w[name_index(n)] = v
            except EmotalkError:
                unknown.append(n)
        if unknown:
            problems.append(f"unknown blendshape names skipped: {', '.join(map(str, unknown[:5]))}")
    if not np.all(np.isfinite(w)):
        problems.append("NaN/Inf positions replaced by 0")
    if np.any((w < 0) | (w > 1)):
        problems.append("positions outside [0, 1] clamped")
    w = np.clip(np.nan_to_num(w, nan=0.0, posinf=0.0, neginf=0.0), 0.0, 1.0)
    return w.astype(np.float32), problems


class FaceMeshNode(Node):
    """Publishes the deformed face mesh as a Marker (see module docstring)."""

    def __init__(self, **kwargs):
        super().__init__("face_mesh", **kwargs)
        p = declare_parameters(self, PARAMS)
        self.cfg = FaceMeshConfig(p["frame_id"], float(p["max_rate_hz"]), p["mesh.path"],
                                  bool(p["mesh.front_only"]), float(p["shading.ambient"]),
                                  float(p["scale"]))
        self.mesh = FaceMesh.load(self.cfg.mesh_path or None)
        tris = self.mesh.triangles
        if self.cfg.front_only:
            cz = self.mesh.vertices[tris].mean(axis=1)[:, 2]           # (F,) rest centroid z
            tris = tris[cz > -0.01]
        self.tris = tris                                               # (F', 3)
        self.corner_vertex = tris.reshape(-1)                          # (3F',)
        order = np.argsort(self.corner_vertex, kind="stable")
        self._corner_order = order
        self._corner_start = np.searchsorted(self.corner_vertex[order],
                                             np.arange(self.mesh.num_vertices + 1))
        self.points = [Point() for _ in range(self.corner_vertex.size)]
        self.colors = [ColorRGBA(a=1.0) for _ in range(self.corner_vertex.size)]
        self._last_verts: Optional[np.ndarray] = None
        self._last_cols: Optional[np.ndarray] = None
        self._pending: Optional[np.ndarray] = None
        self._last_pub = -math.inf
        self.frames_in = 0
        self.published = 0
        self.dropped = 0
        self.pub = self.create_publisher(Marker, "face/mesh", qos.MESH)
        self.sub = self.create_subscription(JointState, "face/blendshapes", self._on_blendshapes,
                                            qos.FACE_STREAM_BEST_EFFORT)
        self.timer = self.create_timer(1.0 / self.cfg.max_rate_hz, self._on_timer)
        self.get_logger().info(
            f"face_mesh: {self.mesh.num_vertices} vertices, {len(self.tris)} triangles published, "
            f"frame '{self.cfg.frame_id}', max {self.cfg.max_rate_hz:g} Hz")

    # -- input -----------------------------------------------------------------------------
    def _on_blendshapes(self, msg: JointState) -> None:
        try:
            w, problems = weights_from_joint_state(list(msg.name), msg.position)
        except EmotalkError as exc:
            self.dropped += 1
            self.get_logger().warning(f"dropped face/blendshapes message: {exc}",
                                      throttle_duration_sec=2.0)
            return
        for pr in problems:
            self.get_logger().warning(f"face/blendshapes: {pr}", throttle_duration_sec=2.0)
        self.frames_in += 1
        now = time.monotonic()
        if now - self._last_pub >= 1.0 / self.cfg.max_rate_hz:
            self._pending = None
            self.publish_weights(w)
        else:
            self._pending = w

    def _on_timer(self) -> None:
        if self._pending is not None and time.monotonic() - self._last_pub >= 0.9 / self.cfg.max_rate_hz:
            w, self._pending = self._pending, None
            self.publish_weights(w)

    # -- output ----------------------------------------------------------------------------
    def _update_corners(self, changed: np.ndarray, values: np.ndarray, objs, fields) -> None:
        """Write rows of ``values`` (V, 3) for ``changed`` vertices into their corner objects."""
        order, start = self._corner_order, self._corner_start
        vals = values.astype(np.float64)
        for v in changed:
            x = vals[v]
            for k in order[start[v]:start[v + 1]]:
                o = objs[k]
                setattr(o, fields[0], x[0])
                setattr(o, fields[1], x[1])
                setattr(o, fields[2], x[2])

    def publish_weights(self, w: np.ndarray) -> None:
        """Deform with (52,) weights, shade, and publish the Marker."""
        verts = self.mesh.deform(w)                                    # (V, 3)
        cols = shade(verts, self.mesh.triangles, self.mesh.colors, ambient=self.cfg.ambient)
        if self._last_verts is None:
            vchanged = np.arange(verts.shape[0])
            cchanged = vchanged
        else:
            vchanged = np.flatnonzero(np.any(np.abs(verts - self._last_verts) > 1e-6, axis=1))
            cchanged = np.flatnonzero(np.any(np.abs(cols - self._last_cols) > 2e-3, axis=1))
        self._update_corners(vchanged, verts, self.points, ("x", "y", "z"))
        self._update_corners(cchanged, cols, self.colors, ("r", "g", "b"))
        if self._last_verts is None:
            self._last_verts, self._last_cols = verts.copy(), cols.copy()
        else:
            self._last_verts[vchanged] = verts[vchanged]
            self._last_cols[cchanged] = cols[cchanged]
        m = Marker()
        m.header.frame_id = self.cfg.frame_id
        m.header.stamp = self.get_clock().now().to_msg()
        m.ns = "face"
        m.id = 0
        m.type = Marker.TRIANGLE_LIST
        m.action = Marker.ADD
        # head frame (x subject's left, y up, z out of the face) -> REP-103 (x forward, y left, z up)
        m.pose.orientation.x = m.pose.orientation.y = m.pose.orientation.z = 0.5
        m.pose.orientation.w = 0.5
        m.scale.x = m.scale.y = m.scale.z = self.cfg.scale
        m.color.r = m.color.g = m.color.b = m.color.a = 1.0
        m.points = self.points
        m.colors = self.colors
        self.pub.publish(m)
        self._last_pub = time.monotonic()
        self.published += 1


def main(args=None) -> int:
    """rclpy.init, spin, Ctrl-C/external shutdown, destroy_node + try_shutdown (ros_util.run_node)."""
    return run_node(FaceMeshNode, "face_mesh", args)


if __name__ == "__main__":
    sys.exit(main())
