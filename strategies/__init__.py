"""Server algorithms, one module each (registered in fedfair.registry)."""
