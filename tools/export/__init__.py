"""`vpipe export` and `vpipe build`: PyTorch -> ONNX with vpipe metadata, reduced precision, TensorRT."""
