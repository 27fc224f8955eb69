"""oci room: the OCI/Docker image data model (see DESIGN.md).

Modules: `mediatypes`, `platform`, `descriptor`, `manifest`, `index`, `config` (with
`container_config`, `history`), `image` (the `Image`/`Layer` protocols), `chain`.
Values are frozen dataclasses; parsers are strict and raise `InvalidInput` naming the field.
"""
