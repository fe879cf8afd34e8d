"""The public, typed library: `Project` (`project.py`), `scan` (`scanning.py`), their results (`results/`).

Import them from `modellock` itself (`from modellock import Project`), which loads each on first use;
everything under `modellock.*` other than the names in `modellock.__all__` is internal and may change
in any release. This package imports nothing, so a command pays only for the verb it runs.
"""
