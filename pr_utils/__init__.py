"""Helpers for the course book *Pattern Recognition: from Gaussian processes to
medical image segmentation*.

The package grows with the chapters, one small module per topic (``runtime``,
``plot``, and later ``gp``, ``scaling``, ``nn``, ``seg``, ``data``). Importing it
stays light: the chapter modules import GPyTorch or MONAI themselves, this file does
not. It does ignore a few warnings of those libraries about their own code
(``runtime.quiet_library_warnings``), which is why a notebook imports ``pr_utils``
before GPyTorch.
"""

from pr_utils.runtime import get_device, quiet_library_warnings, seed_everything

quiet_library_warnings()

__all__ = ["__version__", "get_device", "quiet_library_warnings", "seed_everything"]
__version__ = "0.1.0"
