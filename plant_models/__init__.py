"""SimPy plant models with injectable faults and declared ground truth."""
