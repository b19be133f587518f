"""Benchmarks, the runner and metrics of nasrepro."""
