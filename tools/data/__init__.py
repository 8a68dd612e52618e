"""Data generators: synthetic licence plates (`vpipe synth plates`), the bundled sample clip (`vpipe sample`)."""
