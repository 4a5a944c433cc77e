"""Run a node module as if rclpy were Humble's: the Node API that came after Humble is hidden
from emotalk_ros.

``HUMBLE_NODE_API`` is the public interface of ``rclpy.node.Node`` on rclpy's Humble branch
(3.3.x; read from its ``rclpy/node.py``): methods and properties. Every other public attribute
of the installed ``Node`` (the Iron+ pre/post-set parameter hooks, ``wait_for_node``,
``count_clients``...) is replaced by a descriptor that raises ``AttributeError`` when code of
the ``emotalk_ros`` package touches it, exactly as Humble would, while rclpy's own code
(which may use them internally) keeps working. ``hasattr(node, name)`` from emotalk_ros is
then False, so an explicit fallback is exercised too.

Usage: ``HUMBLE_RCLPY_TARGET=emotalk_ros.ros.retarget_node python -m humble_rclpy --ros-args
...`` (with this folder on PYTHONPATH) imports the target module and exits with its ``main()``.
``HUMBLE_RCLPY_ALSO`` names more modules (comma-separated) to hide the newer API from.
"""

import importlib
import os
import sys

HUMBLE_NODE_API = frozenset({
    # constants and properties
    "PARAM_REL_TOL", "publishers", "subscriptions", "clients", "services", "timers", "guards",
    "waitables", "executor", "context", "default_callback_group", "handle",
    # names, clock, logger
    "get_name", "get_namespace", "get_clock", "get_logger", "get_fully_qualified_name",
    # parameters
    "declare_parameter", "declare_parameters", "undeclare_parameter", "has_parameter",
    "get_parameter_types", "get_parameter_type", "get_parameters", "get_parameter",
    "get_parameter_or", "get_parameters_by_prefix", "set_parameters",
    "set_parameters_atomically", "add_on_set_parameters_callback",
    "remove_on_set_parameters_callback", "describe_parameter", "describe_parameters",
    "set_descriptor",
    # entities
    "add_waitable", "remove_waitable", "resolve_topic_name", "resolve_service_name",
    "create_publisher", "create_subscription", "create_client", "create_service",
    "create_timer", "create_guard_condition", "create_rate", "destroy_publisher",
    "destroy_subscription", "destroy_client", "destroy_service", "destroy_timer",
    "destroy_guard_condition", "destroy_rate", "destroy_node",
    # graph
    "get_publisher_names_and_types_by_node", "get_subscriber_names_and_types_by_node",
    "get_service_names_and_types_by_node", "get_client_names_and_types_by_node",
    "get_topic_names_and_types", "get_service_names_and_types", "get_node_names",
    "get_node_names_and_namespaces", "get_node_names_and_namespaces_with_enclaves",
    "count_publishers", "count_subscribers", "get_publishers_info_by_topic",
    "get_subscriptions_info_by_topic",
})

BLOCKED_FOR = ["emotalk_ros"]


class NotInHumble:
    """A Node attribute that Humble's rclpy does not have, hidden from emotalk_ros code."""

    def __init__(self, name, original):
        self.name = name
        self.original = original

    def __get__(self, obj, owner=None):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if any(caller == b or caller.startswith(b + ".") for b in BLOCKED_FOR):
            raise AttributeError(f"'{(owner or type(obj)).__name__}' object has no attribute "
                                 f"'{self.name}' (rclpy on Humble has no Node.{self.name})",
                                 name=self.name, obj=obj)
        if hasattr(self.original, "__get__"):
            return self.original.__get__(obj, owner)
        return self.original


def newer_than_humble(node_class):
    """Public attributes of ``node_class`` (an rclpy Node) that Humble's Node lacks."""
    return sorted(a for a in dir(node_class) if not a.startswith("_")
                  and a not in HUMBLE_NODE_API)


def hide_newer_api():
    """Replace every post-Humble public attribute of rclpy.node.Node; returns their names."""
    from rclpy.node import Node

    hidden = newer_than_humble(Node)
    for name in hidden:
        for klass in Node.__mro__:
            if name in vars(klass):
                original = vars(klass)[name]
                break
        setattr(Node, name, NotInHumble(name, original))
    return hidden


def main():
    """Hide the post-Humble API, then exit with ``$HUMBLE_RCLPY_TARGET``'s ``main()``."""
    target = os.environ["HUMBLE_RCLPY_TARGET"]
    BLOCKED_FOR.extend(m for m in os.environ.get("HUMBLE_RCLPY_ALSO", "").split(",") if m)
    hidden = hide_newer_api()
    sys.stderr.write(f"[humble_rclpy] hidden from {', '.join(BLOCKED_FOR)}: "
                     f"{', '.join(hidden)}\n")
    sys.stderr.flush()
    sys.argv[0] = target
    sys.exit(importlib.import_module(target).main())


if __name__ == "__main__":
    main()
