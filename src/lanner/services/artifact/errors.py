"""The errors of ``lanner artifact``: each names the artifact, file or server at fault."""

from __future__ import annotations


class ArtifactError(Exception):
    """Base of every artifact error (the CLI prints it as one ``Error:`` line)."""


class RefError(ArtifactError):
    """A reference that names nothing."""


class IndexLookupError(ArtifactError):
    """An index that cannot be read, or a name no index has."""


class RegistryError(ArtifactError):
    """The registry refused or failed a request, or served something else."""


class SignatureError(ArtifactError):
    """A signature is missing or does not verify."""


class RequirementError(ArtifactError):
    """An artifact needs what this Lanner does not have, or its rules do not load."""
