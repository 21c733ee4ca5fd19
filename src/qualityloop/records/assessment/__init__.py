"""Survey rounds of the TQM assessment: instruments, rounds, personal links and responses."""
