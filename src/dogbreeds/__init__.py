"""dogbreeds: sort a photo library of dogs by breed (the 120 Stanford Dogs breeds)."""

__version__ = "0.1.0"
