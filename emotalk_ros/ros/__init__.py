"""The ROS 2 layer, the only place that imports rclpy and message packages: the nodes,
their parameter table, QoS profiles, message conversions, and the DDS demo and benchmark."""
