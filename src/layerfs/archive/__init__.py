"""archive room: layer tars (see DESIGN.md).

- `apply.apply_tar`: safe, fd-relative extraction of an uncompressed layer tar into
  the overlay on-disk form (OCI markers become whiteouts/opaque dirs); diff_id on the fly.
- `generate.write_tar` / `write_tree_tar`: deterministic tars of an upper dir or a tree.
- `compress`: detection, streaming decompression, parallel gzip (isal) and zstd.
"""
