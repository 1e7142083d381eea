"""digitlib's benchmarks: speed, memory and accuracy against a plain baseline. See README.md."""
