"""Argo Workflows: the four build templates (defined with Hera) and helpers to compose them.

``from cachebuild import argo``; then inside a Hera ``DAG`` or ``Steps`` context
``argo.buildkit_build(spec)``, ``argo.kaniko_warm(spec) >> argo.kaniko_build(spec)``,
``argo.buildah_build(images=[...], context=...)``; or ``argo.workflow(specs, "kaniko")`` for a
complete Workflow. Importing this package imports hera.
"""

from cachebuild.argo.compose import (
    buildah_build,
    buildkit_build,
    kaniko_build,
    kaniko_warm,
    template_submission,
    volume_claim,
    workflow,
)
from cachebuild.argo.templates import TEMPLATES, BuildTemplate, workflow_template

__all__ = [
    "TEMPLATES",
    "BuildTemplate",
    "buildah_build",
    "buildkit_build",
    "kaniko_build",
    "kaniko_warm",
    "template_submission",
    "volume_claim",
    "workflow",
    "workflow_template",
]
