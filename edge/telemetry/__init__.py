"""What the device reports about itself and the run: rates and latencies (``metrics``), thermal
state, power and energy, the monitor thread that samples the slow ones, and the Prometheus
exposition of all of it. May import the core only.
"""
