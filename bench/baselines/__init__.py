"""What the worker is compared with: a model called in-process, and gRPC and HTTP services around it.

Each service is a separate process bound to 127.0.0.1 only; the embedding code is plain transformers,
independent of the worker's own model code, so the worker is not compared with itself.
"""
