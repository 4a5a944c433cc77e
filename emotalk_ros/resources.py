"""Installed data and the one "name or path" resolver for models, rigs, styles and meshes.

Package data (``config/``, ``models/``, ``launch/``) is read from the source tree when the
package runs from a checkout, else from the installed ``share/emotalk_ros`` (found through
the ament index, or relative to the install prefix when ``AMENT_PREFIX_PATH`` is not set,
as in a plain ``pip install``).

A *spec* names a resource of some kind: an existing file path is used as it is; a bare name
(no path separator) is looked up among the shipped files of that kind (``morpheus_head`` ->
``config/rigs/morpheus_head.yaml``). Anything else raises :class:`EmotalkError` with the
shipped names, so a typo on a robot gets an answer instead of a traceback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Tuple

from emotalk_ros.errors import EmotalkError

PACKAGE = "emotalk_ros"


@dataclass(frozen=True)
class Kind:
    """A kind of shipped resource: its folder under the share directory and file extensions."""

    what: str                      # the word used in error messages
    folder: str                    # relative to the share directory
    extensions: Tuple[str, ...]    # the first is appended to bare names


KINDS: Dict[str, Kind] = {
    "rig": Kind("rig file", os.path.join("config", "rigs"), (".yaml", ".yml")),
    "style": Kind("style", os.path.join("config", "styles"), (".yaml", ".yml")),
    "model": Kind("model", "models", (".onnx", ".pt")),
    "mesh": Kind("face mesh", "models", (".npz",)),
    "voice_model": Kind("voice emotion model", "models", (".npz",)),
    # ros2_control files of the example rigs: <rig>.urdf and <rig>_controllers.yaml
    "urdf": Kind("URDF", os.path.join("config", "ros2_control"), (".urdf",)),
    "controllers": Kind("controllers file", os.path.join("config", "ros2_control"),
                        ("_controllers.yaml",)),
}

DEFAULT_MODEL_FILES = ("emotalk_default.onnx", "emotalk_default.pt")
FACE_MESH_FILE = "face_mesh.npz"
VOICE_MODEL_FILE = "voice_emotion.npz"


def share_dir() -> str:
    """The folder that holds ``config/``, ``models/`` and ``launch/`` (absolute path)."""
    src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.exists(os.path.join(src, "package.xml")):
        return src
    try:
        from ament_index_python.packages import get_package_share_directory

        return get_package_share_directory(PACKAGE)
    except (ImportError, LookupError, OSError):
        pass
    # <prefix>/lib/pythonX.Y/site-packages/emotalk_ros -> <prefix>/share/emotalk_ros
    prefix = os.path.abspath(os.path.join(src, "..", "..", ".."))
    return os.path.join(prefix, "share", PACKAGE)


def resource_dir(kind: str) -> str:
    """The shipped folder of ``kind`` (rig, style, model, mesh, voice_model, urdf or
    controllers)."""
    return os.path.join(share_dir(), _kind(kind).folder)


def models_dir() -> str:
    """The ``models/`` folder (source tree or installed share)."""
    return resource_dir("model")


def shipped_names(kind: str) -> List[str]:
    """Sorted stems of the shipped files of ``kind`` (empty when the folder is missing)."""
    k = _kind(kind)
    folder = resource_dir(kind)
    if not os.path.isdir(folder):
        return []
    names = set()
    for f in os.listdir(folder):
        for ext in k.extensions:
            if f.endswith(ext):
                names.add(f[:-len(ext)])
                break
    return sorted(names)


def resolve(kind: str, spec: str) -> str:
    """A spec of ``kind`` -> an existing file path.

    ``spec`` is a path to an existing file, or a bare shipped name with or without its
    extension. Raises :class:`EmotalkError` naming the spec, the shipped names and the folder.
    """
    k = _kind(kind)
    spec = str(spec or "").strip()
    if spec and os.path.isfile(spec):
        return spec
    if spec and os.sep not in spec:
        folder = resource_dir(kind)
        names = [spec] if spec.endswith(k.extensions) else [spec + e for e in k.extensions]
        for name in names:
            cand = os.path.join(folder, name)
            if os.path.isfile(cand):
                return cand
    known = ", ".join(shipped_names(kind)) or "none"
    raise EmotalkError(f"{k.what} {spec!r} not found: no such file and not a shipped "
                       f"{k.what} name (shipped: {known}; in {resource_dir(kind)})")


def shipped_file(kind: str, filename: str) -> str:
    """The path of one shipped file of ``kind`` (it may not exist)."""
    return os.path.join(resource_dir(kind), filename)


def _kind(kind: str) -> Kind:
    try:
        return KINDS[kind]
    except KeyError:
        raise EmotalkError(f"unknown resource kind {kind!r}; known: "
                           + ", ".join(sorted(KINDS))) from None
