"""Corpus partitions: role x task, the slices adapters are trained on."""

import dagster as dg

from node0_ops.corpus.schema import ROLES, TASKS

role_partitions = dg.StaticPartitionsDefinition(list(ROLES))
task_partitions = dg.StaticPartitionsDefinition(list(TASKS))
role_task_partitions = dg.MultiPartitionsDefinition({"role": role_partitions, "task": task_partitions})
