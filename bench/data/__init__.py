"""Floor 1, data: from files on disk to pixels a method can use.

datasets/ (the dataset registry and layout readers), splits, demo (the synthetic demo data), image_modes, decode,
decode_batch, resize, image_cache (+ cache_build), images (crops, torch datasets, loaders), device_input,
pipeline (a cell's loader settings). Imports only the core.
"""
