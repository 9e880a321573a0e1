"""Floor 1, results: what a finished cell is and where it is kept.

cells (Cell, Task and the cell key) and store (the results store: one JSON per finished cell + its predictions,
atomic writes). Written by the run floor, read by reports and studies. Imports only the core.
"""
