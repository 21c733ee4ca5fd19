"""QualityLoop: Total Quality Management joined to customer retention."""

__version__ = "0.1.0"
