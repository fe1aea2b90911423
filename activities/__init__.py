"""Activities: all I/O (files, HTTP, Temporal visibility). Never imports ``workflows``."""
