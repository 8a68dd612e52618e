"""What a user runs: the `vpipe` CLI and its commands (run, batch, Ray batch, bench, serve,
review, apply, verify), progress display and metrics."""
