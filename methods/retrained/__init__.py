"""Baselines retrained per cell: one module per method on the shared engine (engine.py)."""
