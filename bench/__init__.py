"""biqa-bench: the reference benchmarking harness for blind image quality assessment.

Importing this package must stay cheap: no torch, no pandas. Heavy modules are
imported lazily by the commands that need them.
"""

__version__ = "0.1.0"
