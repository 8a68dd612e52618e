"""The plugin API and data model: what an element imports (Element, Source, Sink, Params, Frame,
Detections, the registry, errors, output files). Imports nothing else of vpipe."""
