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
    mesh of :class:`emotalk_ros.mesh.mesh.FaceMesh` deformed by the latest weights, one
    point and one Lambert-shaded colour per triangle corner, in ``frame_id``. The points
    are in the mesh's head frame; the marker pose rotates it into REP-103 (x forward out
    of the face, y the subject's left, z up), so the face stands upright in RViz. Published
    on each received frame, at most ``max_rate_hz`` (a frame arriving sooner is held
    and published by a timer at that rate), so at the default 60 Hz the mesh follows
    the blendshape stream frame by frame. The message is published pre-serialised
    (:class:`emotalk_ros.ros.marker_wire.MarkerWire`: the CDR bytes of a template Marker
    with the stamp, points and colours written in by numpy), about 2 ms per frame for
    the deformation, shading and encoding instead of ~45 ms for Python message objects;
    subscribers receive an ordinary Marker.

Parameters
    ``frame_id`` (string, default ``face``): header frame of the marker.
    ``max_rate_hz`` (double, 0.5-120, default 60): publishing rate limit.
    ``mesh.path`` (string, read-only, default empty = the shipped models/face_mesh.npz).
    ``mesh.front_only`` (bool, read-only, default true): publish only the front half of
    the head (about 11k of the 14.6k triangles).
    ``shading.ambient`` (double, 0-1, default 0.35): ambient light fraction.
    ``scale`` (double, 0.1-10, default 1): marker scale (1 = life size, metres).
    ``publish.preserialized`` (bool, read-only, default true): false builds Point and
    ColorRGBA objects instead (the slow reference path; also the automatic fallback when
    the pre-serialised template fails its self-check on this distro).
"""

from __future__ import annotations

import copy
import sys
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import Point
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker

from emotalk_ros.core.blendshapes import NUM_BLENDSHAPES, name_index
from emotalk_ros.core.limits import quote
from emotalk_ros.errors import EmotalkError
from emotalk_ros.mesh.mesh import FaceMesh, FastDeformer
from emotalk_ros.ros import qos
from emotalk_ros.ros.declare import declare_parameters
from emotalk_ros.ros.guard import CallbackGuard
from emotalk_ros.ros.marker_wire import MarkerWire
from emotalk_ros.ros.messages import diagnostic_array, stamp_from_ns
from emotalk_ros.ros.parameters import FACE_MESH as PARAMS
from emotalk_ros.ros.run import run_node

RATE_BURST = 2.0      # frames of jitter the max_rate_hz token bucket absorbs



@dataclass(frozen=True)
class FaceMeshConfig:
    """Node parameters as a frozen config."""

    frame_id: str = "face"
    max_rate_hz: float = 60.0
    mesh_path: str = ""
    front_only: bool = True
    ambient: float = 0.35
    scale: float = 1.0
    preserialized: bool = True


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
            problems.append("unknown blendshape names skipped: "
                            f"{', '.join(quote(str(n), 40) for n in unknown[:5])}")
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
                                  float(p["scale"]), bool(p["publish.preserialized"]))
        self.mesh = FaceMesh.load(self.cfg.mesh_path or None)
        self.deformer = FastDeformer(self.mesh)
        tris = self.mesh.triangles
        if self.cfg.front_only:
            cz = self.mesh.vertices[tris].mean(axis=1)[:, 2]           # (F,) rest centroid z
            tris = tris[cz > -0.01]
        self.tris = tris                                               # (F', 3)
        self.corner_vertex = np.ascontiguousarray(tris.reshape(-1))    # (3F',)
        self.template = self._template_marker()
        self.wire: Optional[MarkerWire] = None
        if self.cfg.preserialized:
            try:
                self.wire = MarkerWire(self.template, self.corner_vertex.size, with_colors=True)
            except EmotalkError as exc:
                self.get_logger().warning(f"{exc}; publishing Marker objects instead (slower)")
        self._pending: Optional[np.ndarray] = None
        self._tokens, self._token_t = RATE_BURST, time.monotonic()
        self.frames_in = 0
        self.published = 0
        self.dropped = 0
        self.guard = CallbackGuard(self, input_throttle_s=2.0)
        self.pub = self.create_publisher(Marker, "face/mesh", qos.MESH)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", qos.DIAGNOSTICS)
        self.sub = self.create_subscription(JointState, "face/blendshapes",
                                            self.guard.wrap(self._on_blendshapes),
                                            qos.FACE_STREAM_BEST_EFFORT)
        self.timer = self.create_timer(1.0 / self.cfg.max_rate_hz,
                                       self.guard.wrap(self._on_timer))
        self._errors_seen = 0
        self.create_timer(1.0, self.guard.wrap(self._on_diagnostics))
        self.get_logger().info(
            f"face_mesh: {self.mesh.num_vertices} vertices, {len(self.tris)} triangles published, "
            f"frame '{self.cfg.frame_id}', max {self.cfg.max_rate_hz:g} Hz, "
            f"{'pre-serialised' if self.wire else 'message objects'}")

    def _template_marker(self) -> Marker:
        """The constant part of every published Marker (no stamp, points or colours)."""
        m = Marker()
        m.header.frame_id = self.cfg.frame_id
        m.ns = "face"
        m.id = 0
        m.type = Marker.TRIANGLE_LIST
        m.action = Marker.ADD
        # head frame (x subject's left, y up, z out of the face)
        # -> REP-103 (x forward, y left, z up)
        m.pose.orientation.x = m.pose.orientation.y = m.pose.orientation.z = 0.5
        m.pose.orientation.w = 0.5
        m.scale.x = m.scale.y = m.scale.z = self.cfg.scale
        m.color.r = m.color.g = m.color.b = m.color.a = 1.0
        return m

    def destroy_node(self):
        """Log the frame, mesh and drop counts, then destroy the node."""
        self.get_logger().info(f"face_mesh: {self.frames_in} frames in, {self.published} meshes "
                               f"published, {self.dropped} messages dropped")
        return super().destroy_node()

    # -- input -----------------------------------------------------------------------------
    def _on_blendshapes(self, msg: JointState) -> None:
        try:
            w, problems = weights_from_joint_state(list(msg.name), msg.position)
        except EmotalkError as exc:
            self.dropped += 1
            self.guard.warn("dropped", f"dropped face/blendshapes message: {exc}")
            return
        for pr in problems:
            self.guard.warn(pr[:20], f"face/blendshapes: {pr}")
        self.frames_in += 1
        if self._take_token():
            self._pending = None
            self.publish_weights(w)
        else:
            self._pending = w

    def _on_timer(self) -> None:
        if self._pending is not None and self._take_token():
            w, self._pending = self._pending, None
            self.publish_weights(w)

    def _on_diagnostics(self) -> None:
        level, message = DiagnosticStatus.OK, "ok"
        if self.guard.errors > self._errors_seen:
            level, message = DiagnosticStatus.ERROR, "callback error: " + self.guard.last_error
        self._errors_seen = self.guard.errors
        values = {"frames_in": self.frames_in, "meshes_published": self.published,
                  "messages_dropped": self.dropped, "bad_input_messages": self.guard.bad_input,
                  "callback_errors": self.guard.errors,
                  "callback_last_error": self.guard.last_error}
        self.pub_diag.publish(diagnostic_array(
            stamp_from_ns(self.get_clock().now().nanoseconds), "face_mesh: mesh",
            self.get_fully_qualified_name(), level, message, values))

    def _take_token(self) -> bool:
        """Token bucket for ``max_rate_hz``: the average rate is capped, but a frame that
        arrives a little early (DDS and scheduler jitter on a stream at the same rate) is
        still published at once instead of being held and overwritten by the next one."""
        now = time.monotonic()
        self._tokens = min(RATE_BURST, self._tokens + (now - self._token_t) * self.cfg.max_rate_hz)
        self._token_t = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    # -- output ----------------------------------------------------------------------------
    def corners(self, w: np.ndarray) -> tuple:
        """(52,) weights -> (points (3F', 3) float32 m, colours (3F', 3) float32), one per
        corner."""
        verts = self.deformer.deform(w)                                # (V, 3)
        cols = self.deformer.shade(verts, ambient=self.cfg.ambient)    # (V, 3)
        return verts[self.corner_vertex], cols[self.corner_vertex]

    def message(self, stamp, pts: np.ndarray, cols: np.ndarray) -> Marker:
        """The Marker as message objects (the reference path; ~3 us per point in Python)."""
        m = copy.deepcopy(self.template)
        m.header.stamp = stamp
        m.points = [Point(x=x, y=y, z=z) for x, y, z in pts.tolist()]
        m.colors = [ColorRGBA(r=r, g=g, b=b, a=1.0) for r, g, b in cols.tolist()]
        return m

    def publish_weights(self, w: np.ndarray) -> None:
        """Deform with (52,) weights, shade, and publish the Marker."""
        pts, cols = self.corners(w)
        stamp = self.get_clock().now().to_msg()
        if self.wire is not None:
            self.pub.publish(self.wire.encode(stamp.sec, stamp.nanosec, pts, cols))
        else:
            self.pub.publish(self.message(stamp, pts, cols))
        self.published += 1


def main(args=None) -> int:
    """rclpy.init, spin, Ctrl-C/external shutdown, destroy_node + try_shutdown
    (ros_util.run_node)."""
    return run_node(FaceMeshNode, "face_mesh", args)


if __name__ == "__main__":
    sys.exit(main())
