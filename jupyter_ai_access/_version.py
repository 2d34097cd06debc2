"""The package's version, written from labextension/package.json by hatchling's version hook."""

__version__ = "0.1.0"
