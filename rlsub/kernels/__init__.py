"""Compiled kernels (numba, loaded lazily) and the numpy twins that give the same bits where numba is missing:
the PCG64 seeded starts and the fixed-order MLP forward the rollouts use."""
