"""The registry transport (distribution spec): `docker://HOST/REPO:TAG`.

`client.RegistryClient` (auth, limits, errors), `pull.open_image` (an `Image` whose
layers stream verified, resumable blobs), `push.push_image` (HEAD, mount, upload,
manifest last), `reference.RegistryRef`.
"""
