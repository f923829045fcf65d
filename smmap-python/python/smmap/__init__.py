"""smmap: sliding-window memory maps of many, possibly huge, files under a budget.

A drop-in replacement for Python smmap 5.0 (the API of ``smmap.mman``, ``smmap.buf`` and
``smmap.util``), built on the smmap Rust crate: managers shared across threads, true LRU
eviction, views that keep their region mapped while they live.
"""

__author__ = "The smmap developers"
__homepage__ = "https://github.com/smmap-rs/smmap"
#: The version of Python smmap whose API this package offers.
version_info = (5, 0, 3)
__version__ = '.'.join(str(i) for i in version_info)

# make everything available in root package for convenience
from .mman import *  # noqa: F401,F403
from .buf import *  # noqa: F401,F403
