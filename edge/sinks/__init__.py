"""Result sinks: what the user sees or keeps. One small class per file."""
