"""Plain data and signals every layer shares: blendshape and emotion tables, phones, audio
features and sources, easing curves, test signals. No rclpy, no torch."""
