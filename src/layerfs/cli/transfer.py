"""Images between the store, archives, OCI layouts and registries: copy, pull, push,
load, save. Progress bars (rich) go to stderr, only on a terminal and never with -q."""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from layerfs.cli._store import open_store, root_option
from layerfs.oci.image import Image
from layerfs.oci.platform import Platform
from layerfs.store.store import Store
from layerfs.transports import loadsave
from layerfs.transports._image import ObservedImage
from layerfs.transports.locations import Location, RegistryOptions, open_image, write_image
from layerfs.transports.locations import default_tags as location_tags
from layerfs.transports.registry.auth import Credentials
from layerfs.transports.registry.reference import RegistryRef

F = TypeVar("F", bound=Callable[..., Any])


class _Bars:
    """One rich progress bar per image copied (bytes of its layer blobs)."""

    def __init__(self, quiet: bool) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
            TransferSpeedColumn(), console=Console(stderr=True), transient=False,
        )

    @contextlib.contextmanager
    def running(self) -> Iterator[_Bars]:
        if not self.enabled:
            yield self
            return
        with self._progress:
            yield self
            for task in self._progress.tasks:  # blobs already present were never read
                self._progress.update(task.id, completed=task.total)

    def wrap(self, label: str) -> Callable[[Image], Image]:
        def wrap(image: Image) -> Image:
            if not self.enabled:
                return image
            total = sum(layer.size() for layer in image.layers())
            task = self._progress.add_task(label, total=total)
            return ObservedImage(image, lambda n: self._progress.advance(task, n))  # type: ignore[return-value]

        return wrap


def _registry_options(f: F) -> F:
    f = click.option("--platform", metavar="OS/ARCH[/VARIANT]",
                     help="Platform to pick from an index (default: this host).")(f)
    f = click.option("--tls-verify", type=click.BOOL, default=True, show_default=True,
                     help="Verify TLS; false allows http and unverified https (loopback).")(f)
    f = click.option("--creds", metavar="USER[:PASS]",
                     help="Registry credentials (default: auth.json / docker config).")(f)
    f = click.option("--chunk-size", type=click.IntRange(min=1), default=None,
                     help="Upload blobs in chunks of this many bytes (default: one PUT).")(f)
    f = click.option("-q", "--quiet", is_flag=True, help="No progress output.")(f)
    return f


def _opts(platform: str | None, tls_verify: bool, creds: str | None,
          chunk_size: int | None) -> RegistryOptions:
    return RegistryOptions(
        tls_verify=tls_verify,
        creds=Credentials.parse(creds) if creds else None,
        platform=Platform.parse(platform) if platform else None,
        chunk_size=chunk_size,
    )


def _keep_option(f: F) -> F:
    return click.option(
        "--keep-privileged", is_flag=True,
        help="Keep setuid/setgid bits, security.capability and overlay xattrs of the"
             " layers (dropped by default: they come from outside).")(f)


def _note(line: str) -> None:
    click.echo(f"note: {line}", err=True)


def _mount_from(src: Location, dst: Location) -> list[str]:
    if src.transport != "docker" or dst.transport != "docker":
        return []
    a, b = RegistryRef.parse(src.path), RegistryRef.parse(dst.path)
    return [a.repository] if a.api_host == b.api_host else []


def copy_image(src: Location, dst: Location, opts: RegistryOptions, root: str | None,
               quiet: bool, dst_opts: RegistryOptions | None = None,
               keep_privileged: bool = False) -> str:
    """Copy one image; what identifies it at the destination. `opts` reach the source
    (and the destination, unless `dst_opts` are given)."""
    uses_store = "store" in (src.transport, dst.transport)
    bars = _Bars(quiet)
    with contextlib.ExitStack() as stack:
        store: Store | None = stack.enter_context(open_store(root)) if uses_store else None
        image = stack.enter_context(open_image(src, opts, store))
        if dst.transport == "store" and not dst.path:
            dst = Location("store", (location_tags(src) or [""])[0])
        with bars.running():
            observed = bars.wrap(str(src))(image)
            return write_image(dst, observed, dst_opts or opts, store, _mount_from(src, dst),
                               keep_privileged=keep_privileged, note=_note)


@click.command("copy")
@click.argument("source")
@click.argument("destination")
@_registry_options
@click.option("--src-tls-verify", type=click.BOOL, default=None,
              help="--tls-verify for the source only (skopeo's option).")
@click.option("--dest-tls-verify", type=click.BOOL, default=None,
              help="--tls-verify for the destination only.")
@click.option("--src-creds", metavar="USER[:PASS]", help="Credentials for the source only.")
@click.option("--dest-creds", metavar="USER[:PASS]",
              help="Credentials for the destination only.")
@_keep_option
@root_option
def copy_cmd(source: str, destination: str, platform: str | None, tls_verify: bool,
             creds: str | None, chunk_size: int | None, quiet: bool,
             src_tls_verify: bool | None, dest_tls_verify: bool | None,
             src_creds: str | None, dest_creds: str | None, keep_privileged: bool,
             root: str | None) -> None:
    """Copy an image between transports (skopeo's names): oci:DIR[:TAG],
    oci-archive:FILE[:TAG], docker-archive:FILE[:REF], docker://HOST/REPO[:TAG], and the
    store as NAME or store:NAME. Prints the digest (or image id) at the destination.

    \b
    Examples:
      layerfs copy busybox oci:/tmp/layout:busybox
      layerfs copy oci:/tmp/layout:busybox docker://127.0.0.1:5000/busybox:1 --tls-verify=false
      layerfs copy docker-archive:busybox.tar store:busybox:saved
    """
    src_opts = _opts(platform, tls_verify if src_tls_verify is None else src_tls_verify,
                     src_creds or creds, chunk_size)
    dst_opts = _opts(platform, tls_verify if dest_tls_verify is None else dest_tls_verify,
                     dest_creds or creds, chunk_size)
    click.echo(copy_image(Location.parse(source), Location.parse(destination), src_opts, root,
                          quiet, dst_opts, keep_privileged))


@click.command("pull")
@click.argument("reference")
@_registry_options
@_keep_option
@root_option
def pull_cmd(reference: str, platform: str | None, tls_verify: bool, creds: str | None,
             chunk_size: int | None, quiet: bool, keep_privileged: bool,
             root: str | None) -> None:
    """Pull an image from a registry into the store (named HOST/REPO:TAG). Prints its ID.

    \b
    Example:
      layerfs pull 127.0.0.1:5000/busybox:latest --tls-verify=false
    """
    ref = reference.removeprefix("docker://")
    src = Location.parse(f"docker://{ref}")
    opts = _opts(platform, tls_verify, creds, chunk_size)
    click.echo(copy_image(src, Location("store", ""), opts, root, quiet,
                          keep_privileged=keep_privileged))


@click.command("push")
@click.argument("image")
@click.argument("destination", required=False)
@_registry_options
@root_option
def push_cmd(image: str, destination: str | None, platform: str | None, tls_verify: bool,
             creds: str | None, chunk_size: int | None, quiet: bool, root: str | None) -> None:
    """Push a store image to a registry (DESTINATION defaults to IMAGE, which must then
    name a host). Prints the manifest digest.

    \b
    Example:
      layerfs push busybox 127.0.0.1:5000/busybox:1 --tls-verify=false
    """
    dest = (destination or image).removeprefix("docker://")
    opts = _opts(platform, tls_verify, creds, chunk_size)
    click.echo(copy_image(Location("store", image), Location.parse(f"docker://{dest}"), opts,
                          root, quiet))


@click.command("load")
@click.option("-i", "--input", "input_", metavar="FILE", default="-", show_default=True,
              help="The archive (docker-archive or oci-archive, detected; - is stdin).")
@click.option("-q", "--quiet", is_flag=True, help="Print only the loaded names/IDs.")
@_keep_option
@root_option
def load_cmd(input_: str, quiet: bool, keep_privileged: bool, root: str | None) -> None:
    """Load the images of a docker-archive or oci-archive (docker save / podman save),
    plain or compressed.

    \b
    Examples:
      layerfs load -i busybox.tar
      podman save busybox | layerfs load
    """
    bars = _Bars(quiet)
    with contextlib.ExitStack() as stack:
        if input_ == "-":
            if sys.stdin.isatty():
                raise click.UsageError("refusing to read an archive from a terminal: use -i FILE")
            spool = stack.enter_context(tempfile.NamedTemporaryFile(prefix="layerfs-load-"))
            shutil.copyfileobj(sys.stdin.buffer, spool, 1 << 20)
            spool.flush()
            input_ = spool.name
        store = stack.enter_context(open_store(root))
        with bars.running():
            records = loadsave.load(store, input_, bars.wrap(input_),
                                    keep_privileged=keep_privileged, note=_note)
    for rec, tags in records:
        for name in tags:
            click.echo(f"Loaded image: {name}")
        if not tags:
            click.echo(f"Loaded image ID: {rec.id}")


@click.command("save")
@click.argument("images", nargs=-1, required=True)
@click.option("-o", "--output", metavar="FILE", required=True, help="The archive to write.")
@click.option("--format", "fmt", type=click.Choice(loadsave.FORMATS),
              default="docker-archive", show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@root_option
def save_cmd(images: tuple[str, ...], output: str, fmt: str, quiet: bool,
             root: str | None) -> None:
    """Write store images to one archive that docker load / podman load read.

    \b
    Examples:
      layerfs save -o busybox.tar busybox
      layerfs save --format oci-archive -o both.tar busybox alpine
    """
    bars = _Bars(quiet)
    with open_store(root) as store, bars.running():
        loadsave.save(store, list(images), output, fmt, bars.wrap(output))


COMMANDS = [copy_cmd, pull_cmd, push_cmd, load_cmd, save_cmd]
