"""Exporters, trainers and data generators (these may import torch; the runtime never does)."""
