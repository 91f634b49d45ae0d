"""The ``cachebuild`` subcommands, one module each: ``add_arguments(parser)`` and ``run(args)``."""

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TIMEOUT = 0, 1, 2, 3
"""Every command's exit codes: success, failure (a failed build, drift, a refusal), bad input, timed out."""
