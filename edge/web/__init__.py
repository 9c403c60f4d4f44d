"""The web face: a small bounded asyncio HTTP server (``server``, ``wire``, ``host``),
credentials and TLS (``auth``, ``access``) and the live page (``live``, ``page.html``).

A server, not a sink: the ``--http`` and ``--metrics`` sinks in ``edge.sinks`` run it. May
import the core and ``edge.telemetry``; never sinks, sources or the pipeline.
"""
