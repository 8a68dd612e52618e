"""The runtime: a YAML config checked and built into a graph of elements, then run on worker
threads (or one thread, as a baseline). Imports the plugin API only."""
