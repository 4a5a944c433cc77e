"""The ``main()`` of every node: init, spin, shut down cleanly, one line on a failed start."""

from emotalk_ros.errors import EmotalkError


def run_node(node_factory, name: str, args=None, spin=None, **init_kwargs) -> int:
    """The Humble/Jazzy ``main()`` form shared by the nodes: ``rclpy.init``, spin, stop on
    Ctrl-C or external shutdown, always ``destroy_node`` + ``rclpy.try_shutdown``.

    ``spin(node)`` (default ``rclpy.spin``) runs the node until it should stop;
    ``init_kwargs`` go to ``rclpy.init`` (e.g. ``signal_handler_options``).
    A node whose constructor raises :class:`EmotalkError` (missing model, device or file)
    logs one fatal line and the process exits with 1; a node that stops spinning with a
    non-zero ``exit_code`` attribute (e.g. a worker that gave up) exits with that code;
    otherwise 0.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=args, **init_kwargs)
    node = None
    code = 0
    try:
        node = node_factory()
        (spin or rclpy.spin)(node)
        code = int(getattr(node, "exit_code", 0) or 0)
    except EmotalkError as exc:
        rclpy.logging.get_logger(name).fatal(f"cannot start: {exc}")
        code = 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return code
