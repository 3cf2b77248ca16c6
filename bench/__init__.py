"""Benchmarks (never timed in tests). ``bench/run.py`` runs them all side by side; see README "Measured"."""
