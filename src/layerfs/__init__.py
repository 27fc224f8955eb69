"""layerfs: a union filesystem and container-layer engine.

Rooms (each a subpackage, imports point down only; see DESIGN.md):
cli > analysis, build, runtime, transports > store, archive, oci > mounts, union > digest, errors.
"""

__version__ = "0.1.0"
