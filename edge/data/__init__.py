"""Data files that ship with the package (ImageNet class names)."""
