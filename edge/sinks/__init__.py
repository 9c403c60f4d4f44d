"""Sinks: what the user sees or keeps, one small class per file behind :mod:`edge.sinks.base`:
terminal, window (with ``overlay``), results log, recorder, MQTT (with Home Assistant
discovery in ``ha`` and its options in ``mqtt_options``), the web page (``web``) and the
metrics listener (``metrics``).

May import the core, ``edge.web`` and ``edge.telemetry``; never the pipeline (a sink sees the
run through :class:`edge.sinks.base.PipelineView`).
"""
