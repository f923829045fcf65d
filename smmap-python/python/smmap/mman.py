"""The memory managers: sliding windows over many files, and whole-file maps."""
from ._smmap import (
    MappedBytes,  # noqa: F401 (the type of map() results)
    SlidingWindowMapManager,
    StaticWindowMapManager,
    WindowCursor,
)
from .util import MapRegion, MapRegionList, MapWindow

__all__ = ["StaticWindowMapManager", "SlidingWindowMapManager", "WindowCursor"]

# Python smmap's configuration hooks, kept as class attributes for code that reads them (the
# managers of this package do not call them).
StaticWindowMapManager.MapRegionListCls = MapRegionList
StaticWindowMapManager.MapWindowCls = MapWindow
StaticWindowMapManager.MapRegionCls = MapRegion
StaticWindowMapManager.WindowCursorCls = WindowCursor
StaticWindowMapManager._MB_in_bytes = 1024 * 1024

