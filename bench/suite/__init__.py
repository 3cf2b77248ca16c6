"""The measurements that ``bench/run.py`` runs, one module per kind."""
