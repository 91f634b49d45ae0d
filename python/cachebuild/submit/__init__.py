"""Submit builds from Python: to Argo through Hera's ``WorkflowsService``, to Tekton through ``kubernetes``.

>>> from cachebuild import BuildSpec
>>> from cachebuild.submit import ArgoClient
>>> client = ArgoClient("https://argo.example.com", token=token, namespace="ci")   # doctest: +SKIP
>>> build = client.create(argo.workflow_manifest([spec], engine="kaniko"), retry=Retry.within(60))  # doctest: +SKIP
>>> result = build.wait(timeout=1800)                                                 # doctest: +SKIP
>>> result.images[0].digest                                                           # doctest: +SKIP

Every wait has a deadline; ``Pending`` and an empty status are not finished; dropped connections,
429 and 5xx answers are retried with backoff inside the deadline; 401/403/404 are reported at once
with what to check. A create is never duplicated by a retry.
"""

from cachebuild.submit.argo import ArgoBuild, ArgoClient
from cachebuild.submit.common import BuildStatus, BuildTimeout, ImageResult, Retry, SubmitError
from cachebuild.submit.tekton import TektonBuild, TektonClient

__all__ = [
    "ArgoBuild",
    "ArgoClient",
    "BuildStatus",
    "BuildTimeout",
    "ImageResult",
    "Retry",
    "SubmitError",
    "TektonBuild",
    "TektonClient",
]
