"""Frame sources: one small class per kind behind :mod:`edge.sources.base` (OpenCV cameras,
streams and videos; picamera2; replays of folders, recordings and videos; synthetic frames),
plus ``reconnect`` (a lost camera reopened with back-off) and ``images`` (image files read
safely: any file name, the size from the header, memory bounded). May import the core only.
"""
