"""maku: run and train mobile-class convolutional networks, fast and small."""

__version__ = "0.1.0"
