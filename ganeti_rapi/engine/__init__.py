"""The cluster engine behind the RAPI: configuration, job queue, locks, opcodes."""
