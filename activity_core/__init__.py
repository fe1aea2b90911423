"""activity-core: scheduled and triggered work on Temporal without silent failures."""

__version__ = "0.1.0"
