"""Code shared by every small_lm script: the dataset format, labels, metrics and I/O helpers."""
