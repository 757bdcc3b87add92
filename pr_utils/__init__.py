"""Helpers for the course book *Pattern Recognition: from Gaussian processes to
medical image segmentation*.

The package grows with the chapters, one small module per topic (``runtime``,
``plot``, and later ``gp``, ``scaling``, ``nn``, ``seg``, ``data``). Importing it
stays light: the chapter modules import GPyTorch or MONAI themselves, this file does
not.
"""

from pr_utils.runtime import get_device, seed_everything

__all__ = ["__version__", "get_device", "seed_everything"]
__version__ = "0.1.0"
