"""The plan: config, conditions, typed job settings, resources, code digests, the job environment."""
