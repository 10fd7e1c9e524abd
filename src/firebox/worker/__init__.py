"""The worker: environments, their pool, the Runtime API and the artifacts they run."""
