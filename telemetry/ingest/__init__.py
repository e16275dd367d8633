"""The ingest path: the bounded pipeline (``pipeline``), the writer with its retry, spool and
dead-letter policy (``writer``) and the on-disk spool (``spool``). Imports the spine only; an
ingest-only worker process needs nothing else."""
