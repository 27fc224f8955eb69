"""The differential conformance suite of the union engine (issue 2, "Proof").

The same operation sequences run on every union front end (the `UnionView` library, the
FUSE mount) and on a kernel overlay mount of identical layer copies; the merged trees and
the upper dirs are compared pairwise against the kernel, which is the reference.
"""
