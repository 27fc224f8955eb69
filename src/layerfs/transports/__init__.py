"""transports room: images outside the store, each behind the `oci.image` interface.

`layout` (OCI image layout dir), `oci_archive`, `docker_archive`, `registry/` (the
distribution-spec client), `locations` (skopeo's transport names → open/write),
`loadsave` (`load`/`save` of archives, kind detected). See docs/TRANSPORTS.md.
"""
