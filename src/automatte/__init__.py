"""automatte: automatic natural image matting.

Photo in, alpha matte, foreground colours and cutout out; plus the models, losses, training paradigms,
data synthesis and evaluation of five matting papers (see README).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
