"""nst-bench: an experiment-tracking benchmark harness for neural style transfer."""

__version__ = "0.1.0"
