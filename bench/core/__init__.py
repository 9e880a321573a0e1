"""Floor 0, the core: values and rules every other floor shares, and nothing else.

errors (BenchError and friends), paths (the cache root), labels (scene/distortion classes), records (ImageRecord,
DatasetInfo, ImageSet, Split), metrics (SRCC/PLCC/KRCC/RMSE), params (--param values), seeding, numerics (--precision,
--deterministic), integrity (hashes of stored results and cache entries), download (verified file downloads).
Imports nothing of biqa-bench above it; torch only inside functions.
"""
