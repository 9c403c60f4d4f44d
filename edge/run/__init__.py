"""edge-run: the frame loop and everything that wires it up and keeps it running.

``pipeline`` (the three threads: capture, inference, reporting) with ``handoff`` (what they pass
each other); ``wiring`` (settings -> source, engine, sinks), ``settings`` (the flag and TOML
table) and ``config`` (the TOML file); ``choice`` (which build of a model folder runs);
``service`` (systemd notify and watchdog); ``doctor`` (what breaks a camera service).

May import everything below it (core, engines, sources, sinks, web, telemetry); only
``edge.cli`` imports it.
"""
