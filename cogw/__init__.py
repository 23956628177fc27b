"""cogw: ML model weights as content-addressed OCI artifacts.

The repository keeps the code in top-level ``core/`` (pure) and ``shell/``
(imperative); ``cogw/core`` and ``cogw/shell`` are symlinks so that the code
installs and type-checks as ``cogw.core`` and ``cogw.shell`` and nothing named
plain ``core`` ever lands in site-packages.
"""

__version__ = "0.1.0"
