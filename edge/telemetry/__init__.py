"""What the device reports about itself and the run: rates and latencies (metrics), thermal
state, power and energy, and the monitor thread that samples the slow ones."""
