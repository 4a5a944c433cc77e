"""emotalk_ros: voice-synchronised, emotionally controllable faces for ROS 2 robots.

The package has two layers. Everything that computes (audio features, the
generator, the emotion space, idle behaviour, retargeting, the mesh) lives in
plain-Python core modules that never import rclpy. The ``*_node.py`` modules are
thin adapters between ROS messages/parameters and that core.
"""

__version__ = "0.1.0"
