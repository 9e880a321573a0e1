"""Study files (a paper or a suite as data), their plan, cost estimate and run: ``bench study``."""
