"""Model definitions of our own (torch): the MobileNetV2 detectors and the SR networks."""
