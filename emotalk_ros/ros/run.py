"""The ``main()`` of every node: init, spin, shut down cleanly, one line on a failed start."""

import sys
import traceback

from emotalk_ros.errors import EmotalkError

SUPPORTED_DISTROS = ("humble", "jazzy", "kilted")


def rclpy_description() -> str:
    """``rclpy 7.1.6, ROS_DISTRO=jazzy``: which rclpy this process runs (for error lines)."""
    import os
    from importlib.metadata import PackageNotFoundError, version

    found = "unknown version"
    for dist in ("rclpy", "ros-rclpy"):
        try:
            found = version(dist)
            break
        except PackageNotFoundError:
            continue
    return f"rclpy {found}, ROS_DISTRO={os.environ.get('ROS_DISTRO', 'unset')}"


def startup_error(exc: BaseException) -> str:
    """The one line that explains why a node could not start.

    :class:`EmotalkError` (missing model, rig, device or file; a bad parameter value) is
    shown as it is. An ``AttributeError`` raised while building the node almost always means
    the installed rclpy lacks an API (a newer distro's method on an older one), so the line
    names the attribute and the rclpy in use. Anything else is shown with its type.
    """
    if isinstance(exc, EmotalkError):
        return str(exc)
    if isinstance(exc, AttributeError):
        distros = [d.capitalize() for d in SUPPORTED_DISTROS]
        return (f"this rclpy lacks an API the node uses: {exc} ({rclpy_description()}; "
                f"emotalk_ros supports {', '.join(distros[:-1])} and {distros[-1]})")
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else '(no message)'}"


def run_node(node_factory, name: str, args=None, spin=None, **init_kwargs) -> int:
    """The Humble/Jazzy ``main()`` form shared by the nodes: ``rclpy.init``, spin, stop on
    Ctrl-C or external shutdown, always ``destroy_node`` + ``rclpy.try_shutdown``.

    ``spin(node)`` (default ``rclpy.spin``) runs the node until it should stop;
    ``init_kwargs`` go to ``rclpy.init`` (e.g. ``signal_handler_options``).
    Any exception while starting (``rclpy.init`` with bad ``--ros-args``, or the node's
    constructor: missing model, device or file, a parameter outside its range, an rclpy API
    this distro lacks) logs ONE fatal line naming the cause, without a traceback, and the
    process exits with 1 (the traceback is logged at debug level:
    ``--ros-args --log-level debug``). A node that stops spinning with a non-zero
    ``exit_code`` attribute (e.g. a worker that gave up) exits with that code; otherwise 0.
    An error out of ``spin`` once the context has been shut down (Ctrl-C racing the
    executor) is a clean stop; before that it propagates.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException

    try:
        rclpy.init(args=args, **init_kwargs)
    except Exception as exc:                              # noqa: BLE001 (one line, exit 1)
        sys.stderr.write(f"[FATAL] [{name}]: cannot start: {startup_error(exc)}\n")
        return 1
    logger = rclpy.logging.get_logger(name)
    node = None
    code = 0
    try:
        try:
            node = node_factory()
        except (KeyboardInterrupt, ExternalShutdownException):
            raise
        except Exception as exc:                          # noqa: BLE001 (one line, exit 1)
            logger.fatal(f"cannot start: {startup_error(exc)}")
            logger.debug("".join(traceback.format_exception(type(exc), exc,
                                                            exc.__traceback__)))
            return 1
        try:
            (spin or rclpy.spin)(node)
        except Exception:
            # Ctrl-C shuts the context down from the signal handler; an executor between
            # its check and its next wait set then raises RCLError ("the given context is
            # not valid") instead of ExternalShutdownException (seen on Jazzy). After a
            # shutdown that is a clean stop; while the context is live it is a real error.
            if rclpy.ok():
                raise
            logger.debug("spin stopped by the shutdown: " + traceback.format_exc())
        code = int(getattr(node, "exit_code", 0) or 0)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return code
