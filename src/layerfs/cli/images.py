"""Image commands on the local store: images, tag, rmi, inspect, history (docker's words)."""

from __future__ import annotations

import sys

import click

from layerfs.cli._common import emit, emit_json, human_size, json_option
from layerfs.cli._gotemplate import render
from layerfs.cli._humantime import ago
from layerfs.cli._store import hooks, open_store, root_option
from layerfs.errors import NotFound
from layerfs.store import names
from layerfs.store.describe import history_rows, inspect_image

NONE = "<none>"


def _image_rows(store, repository: str | None) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    want_repo, want_tag = (None, None)
    if repository:
        want_repo, want_tag = names.split(repository)
        if ":" not in repository.rsplit("/", 1)[-1]:
            want_tag = None
    rows: list[dict[str, object]] = []
    for image in store.images():
        refs = [names.split(t) for t in image.tags] or [(NONE, NONE)]
        for repo, tag in refs:
            if want_repo and (repo != want_repo or (want_tag and tag != want_tag)):
                continue
            rows.append(
                {
                    "Repository": repo,
                    "Tag": tag,
                    "ID": str(image.id),
                    "CreatedAt": image.created,
                    "CreatedSince": ago(image.created),
                    "Size": image.size,
                }
            )
    return rows


@click.command("images")
@click.argument("repository", required=False)
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@click.option("--no-trunc", is_flag=True, help="Show full image IDs.")
@click.option("--format", "fmt", metavar="TEMPLATE", help="Go template per image, e.g. {{.ID}}.")
@json_option
@root_option
def images_cmd(
    repository: str | None,
    quiet: bool,
    no_trunc: bool,
    fmt: str | None,
    as_json: bool,
    root: str | None,
) -> None:
    """List images (REPOSITORY TAG IMAGE ID CREATED SIZE); SIZE is the uncompressed size.

    \b
    Example:
      layerfs images
      layerfs images busybox --format '{{.Repository}}:{{.Tag}}'
    """
    with open_store(root) as store:
        rows = _image_rows(store, repository)
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        full = str(row["ID"])
        row["ID"] = full if no_trunc else full.removeprefix("sha256:")[:12]
    if quiet:
        for image_id in dict.fromkeys(str(r["ID"]) for r in rows):
            click.echo(image_id)
        return
    if fmt:
        for row in rows:
            click.echo(render(fmt, row))
        return
    table = [
        {
            "repository": r["Repository"],
            "tag": r["Tag"],
            "image id": r["ID"],
            "created": r["CreatedSince"],
            "size": human_size(int(r["Size"])),  # type: ignore[call-overload]
        }
        for r in rows
    ]
    emit(table, ["repository", "tag", "image id", "created", "size"], False)


@click.command("tag")
@click.argument("source")
@click.argument("target")
@root_option
def tag_cmd(source: str, target: str, root: str | None) -> None:
    """Give an image another name.

    \b
    Example:
      layerfs tag busybox:latest mybase:1.0
    """
    with open_store(root) as store:
        store.tag(source, target)


@click.command("rmi")
@click.argument("images", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Remove every tag, even of an image in use.")
@root_option
def rmi_cmd(images: tuple[str, ...], force: bool, root: str | None) -> None:
    """Remove images: untag them, delete images left without a name, free unused layers.

    An image used by a container is refused (its tags go with --force; the image stays
    until the container is removed).

    \b
    Example:
      layerfs rmi mybase:1.0
    """
    with open_store(root) as store:
        result = store.remove_images(list(images), force=force)
    for name in result.untagged:
        click.echo(f"Untagged: {name}")
    for image_id in result.deleted:
        click.echo(f"Deleted: {image_id}")


def _inspect_one(store, ref: str, kind: str | None) -> dict[str, object] | None:  # type: ignore[no-untyped-def]
    if kind != "image":
        for hook in hooks("INSPECT"):
            found = hook(store, ref, kind)
            if found is not None:
                return found  # type: ignore[no-any-return]
    if kind in (None, "image"):
        try:
            return inspect_image(store.image(ref))
        except NotFound:
            return None
    return None


@click.command("inspect")
@click.argument("refs", nargs=-1, required=True)
@click.option("-f", "--format", "fmt", metavar="TEMPLATE", help="Go template, e.g. {{.Id}}.")
@click.option("--type", "kind", metavar="TYPE", help="Only objects of this type (image, ...).")
@root_option
def inspect_cmd(refs: tuple[str, ...], fmt: str | None, kind: str | None, root: str | None) -> None:
    """Show objects as docker does: a JSON array; for images Id, RepoTags, Config,
    RootFS.Layers (diff_ids), Size, GraphDriver.Data (the layer dirs)...

    \b
    Examples:
      layerfs inspect busybox | jq '.[0].RootFS.Layers'
      layerfs inspect --format '{{json .Config.Env}}' busybox
      layerfs inspect --format '{{.GraphDriver.Data.UpperDir}}' busybox
    """
    found: list[dict[str, object]] = []
    missing: list[str] = []
    with open_store(root) as store:
        for ref in refs:
            obj = _inspect_one(store, ref, kind)
            if obj is None:
                missing.append(ref)
            else:
                found.append(obj)
    if fmt:
        for obj in found:
            click.echo(render(fmt, obj))
    else:
        emit_json(found)
    for ref in missing:
        click.echo(f"layerfs: error: no such object: {ref}", err=True)
    if missing:
        sys.exit(1)


#: transports whose images `history` reads through layerfs.analysis (not the store)
_SOURCE_PREFIXES = ("oci", "oci-archive", "docker-archive", "docker", "docker-overlay2",
                    "containers-storage")


def _truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@click.command("history")
@click.argument("image")
@click.option("--no-trunc", is_flag=True, help="Do not truncate ids and CREATED BY.")
@click.option("-q", "--quiet", is_flag=True, help="Only show ids.")
@json_option
@root_option
def history_cmd(image: str, no_trunc: bool, quiet: bool, as_json: bool, root: str | None) -> None:
    """Show the history of an image, newest first: IMAGE CREATED CREATED BY SIZE COMMENT.

    IMAGE is the image id on the newest row and, on the others, the chain id of the
    layer the step made or sat on (never <missing>); SIZE is the layer's uncompressed
    size, 0B for steps that made no layer (empty_layer).

    \b
    IMAGE may also be any source name the analysis commands take (docker-archive:FILE,
    oci:DIR, docker://REF, docker-overlay2:ROOT:NAME, ...): sizes are then measured on
    its layer tars.

    \b
    Examples:
      layerfs history --no-trunc busybox
      layerfs history docker-archive:app.tar
    """
    if ":" in image and image.split(":", 1)[0] in _SOURCE_PREFIXES:
        from layerfs.analysis.history import image_history  # loaded only for these
        from layerfs.analysis.sources import open_source

        with open_source(image, store_root=root) as img:
            rows = image_history(img)
    else:
        with open_store(root) as store:
            rows = history_rows(store.image(image))
    if as_json:
        emit_json([r.to_dict() for r in rows])
        return
    table = []
    for r in rows:
        ident = "" if r.id is None else (str(r.id) if no_trunc else r.id.short)
        if quiet:
            click.echo(ident)
            continue
        table.append(
            {
                "image": ident,
                "created": ago(r.created),
                "created by": r.created_by if no_trunc else _truncate(r.created_by, 45),
                "size": human_size(r.size),
                "comment": r.comment,
            }
        )
    if not quiet:
        emit(table, ["image", "created", "created by", "size", "comment"], False)


COMMANDS = [images_cmd, tag_cmd, rmi_cmd, inspect_cmd, history_cmd]
