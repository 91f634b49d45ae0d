"""cachebuild: container-image build tasks for Argo Workflows and Tekton, with remote layer caching.

Importing this package is cheap: it does not import hera or kubernetes (``cachebuild.argo``,
``cachebuild.tekton`` and ``cachebuild.submit`` do, when imported).
"""

from cachebuild.errors import SpecError
from cachebuild.spec import ENGINES, BuildSpec, Engine, GitContext

__version__ = "0.1.0"

__all__ = ["ENGINES", "BuildSpec", "Engine", "GitContext", "SpecError", "__version__"]
