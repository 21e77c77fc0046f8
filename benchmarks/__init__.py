"""`make bench`: benchmarks that run the real parts and write BENCHMARKS.md."""
