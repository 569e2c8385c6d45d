"""Headless core of cifar-tui: profiles, data, models, the training engine, profiler and reports.

Nothing in this package imports Textual or ``tui``; TensorFlow/Keras are imported lazily, only
when a model is built or a run starts, so validation and ``--help`` stay fast.
"""

__version__ = "0.1.0"
