"""oci-archive: a tar of an OCI image layout (skopeo's `oci-archive:FILE[:TAG]`).

Read in place (no extraction): members are found by name and streamed, each blob
verified against its descriptor. Written as a fresh tar (all-or-nothing, see
`_sink.TarSink`) holding one or more images, each tagged by its ref name.
"""

from __future__ import annotations

from collections.abc import Sequence

from layerfs.oci.descriptor import Descriptor
from layerfs.oci.image import Image
from layerfs.oci.platform import Platform
from layerfs.transports import layout
from layerfs.transports._files import TarFiles
from layerfs.transports._image import RawImage
from layerfs.transports._sink import TarSink


def open_archive(path: str, tag: str | None = None,
                 platform: Platform | None = None) -> tuple[RawImage, TarFiles]:
    """The image `tag` (or the only one) of the oci-archive `path` and the open archive.

    The caller closes the `TarFiles` once done with the image's layers.
    """
    files = TarFiles(path)
    try:
        return layout.read_image(files, tag, platform, f"oci-archive:{path}"), files
    except BaseException:
        files.close()
        raise


def archive_tags(path: str) -> list[str]:
    files = TarFiles(path)
    try:
        return layout.tags(files, f"oci-archive:{path}")
    finally:
        files.close()


def save_archive(path: str, images: Sequence[tuple[Image, str | None]]) -> list[Descriptor]:
    """Write `images` (each with its tag or None) as one oci-archive at `path`.

    Layers shared by several images are written once. `path` is replaced only when
    everything was written and verified.
    """
    with TarSink(path) as sink:
        entries = [layout.write_blobs(sink, image, tag) for image, tag in images]
        layout.write_index(sink, entries)
        sink.commit()
    return entries
