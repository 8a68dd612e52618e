"""File types the framework recognises by name: batch mode picks the videos of a folder, and
elements check what they are given against the same lists."""

VIDEO_SUFFIXES = (".avi", ".m4v", ".mkv", ".mov", ".mp4", ".ts")
IMAGE_SUFFIXES = (".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
