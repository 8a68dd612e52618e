"""Trainers: plate detectors (`vpipe train detect`), SR networks (`vpipe train sr`), their ImageNet weights."""
