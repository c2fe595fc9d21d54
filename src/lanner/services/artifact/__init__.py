"""``lanner artifact``: rules (and plugin) artifacts in OCI registries, as falcoctl does.

One idea per module: :mod:`.refs` (what a reference names), :mod:`.index` (falcoctl's
index.yaml), :mod:`.registry` (the OCI protocol, through ``oras``), :mod:`.signing`
(cosign key-based signatures), :mod:`.requirements` (what an artifact needs of Lanner),
:mod:`.install` (pull, check, write atomically), :mod:`.follow` (keep them current),
:mod:`.config` (falcoctl.yaml), :mod:`.cli` (the commands).
"""
