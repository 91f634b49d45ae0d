"""Submit builds from Python: to Argo through Hera's ``WorkflowsService``, to Tekton through ``kubernetes``.

.. code-block:: python

    from cachebuild import BuildSpec
    from cachebuild.submit import ArgoClient, submit_argo_workflow

    client = ArgoClient("https://argo.example.com:2746", token=os.environ["ARGO_TOKEN"], namespace="ci")
    build = submit_argo_workflow(client, [BuildSpec("registry.example.com/team/app:1.0")], "kaniko")
    result = build.wait(timeout=1800, on_progress=lambda status, elapsed: print(status.phase, elapsed))
    print(result.phase, [(i.url, i.digest) for i in result.images])

Every wait has a deadline; ``Pending`` and an empty status are not finished; dropped connections,
429 and 5xx answers are retried with backoff inside the deadline; 401/403/404 are reported at once
with what to check, and so is a server that cannot be reached (:class:`Unreachable`: refused, an
unknown name, a TLS failure). A create is never duplicated by a retry.
"""

from cachebuild.submit.argo import ArgoBuild, ArgoClient
from cachebuild.submit.builds import submit_argo_templates, submit_argo_workflow, submit_tekton
from cachebuild.submit.common import BuildStatus, BuildTimeout, ImageResult, Retry, SubmitError, Unreachable
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
    "Unreachable",
    "submit_argo_templates",
    "submit_argo_workflow",
    "submit_tekton",
]
