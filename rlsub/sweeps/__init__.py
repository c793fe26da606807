"""What to run: the sweep spec, the sweep runner, the ``auto`` projection, the adaptive search, adding seeds
until a CI is narrow (``sharpen``) and preloading forked workers."""
