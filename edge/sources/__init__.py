"""Frame sources: one small class per kind, all with open/read/close."""
