"""Runtime: method registry, dispatch, request contexts and the worker's life cycle."""
