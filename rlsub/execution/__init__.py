"""Where trials run: in-process (``runner``), forked worker processes (``worker_pool``), a Ray cluster
(``ray_backend``), and re-running a stored trial (``replay``)."""
