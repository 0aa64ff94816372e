"""shelfwise: turn a retailer's shelf data into store-ready shelf decisions."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("shelfwise")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
