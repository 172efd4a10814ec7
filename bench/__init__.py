"""Benchmarks: one module per benchmark (``bench_<name>.py`` with a ``main(argv)``)."""
