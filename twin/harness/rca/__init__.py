"""Root-cause datasets, benchmarks and the Tennessee Eastman sweep: they label episodes with the truth."""
