"""Tekton: the catalog Tasks (:mod:`.tasks`), Pipelines/PipelineRuns/TaskRuns for build specs
(:mod:`.pipelines`) and the rendered catalog (:mod:`.catalog`)."""

from cachebuild.tekton.pipelines import TaskOrigin, param_values, pipeline, pipeline_run, task_run, workspace_bindings
from cachebuild.tekton.tasks import BUILD_TASK, BY_NAME, TASKS, TaskDef

__all__ = [
    "BUILD_TASK",
    "BY_NAME",
    "TASKS",
    "TaskDef",
    "TaskOrigin",
    "param_values",
    "pipeline",
    "pipeline_run",
    "task_run",
    "workspace_bindings",
]
