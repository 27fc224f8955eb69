"""archive room: layer tars (see DESIGN.md).

- `apply.apply_tar`: safe, fd-relative extraction of an uncompressed layer tar into
  the overlay on-disk form (OCI markers become whiteouts/opaque dirs); diff_id on the fly.
- `generate.write_tar` / `write_tree_tar`: deterministic tars of an upper dir or a tree.
- `compress`: detection, streaming decompression, parallel gzip (isal) and zstd.
- `verify.VerifyingReader`: a stream that raises DigestMismatch at its end if the bytes
  were not the announced ones; `layer.BlobLayer`: the `Layer` protocol over a blob.
"""
