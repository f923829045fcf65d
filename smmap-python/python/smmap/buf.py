"""A byte-string-like view of a file that moves its cursor as needed."""
from ._smmap import SlidingWindowMapBuffer

__all__ = ["SlidingWindowMapBuffer"]
