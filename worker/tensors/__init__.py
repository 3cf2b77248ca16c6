"""Tensors kept in the worker: the store (handles to arrays), wire dtypes, and search over kept
embeddings. Importing this package does not import torch."""
