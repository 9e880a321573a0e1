"""Floor 4, performance measurement over the run floor: `bench perf --pipeline` (pipeline.py: loader crops/s, cached
vs fresh decodes, vs training crops/s) and JPEG decoding measured (decode.py). Per-method efficiency lives with the
methods (methods/efficiency.py)."""
