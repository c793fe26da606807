"""d_int from stored trials: the performance matrix, the estimator and its CI, the older grid bootstraps,
the simulations that calibrate them, ``rlsub dint``'s tables and the HTML report. Pure functions of stored numbers."""
