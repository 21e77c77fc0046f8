"""The worker process: broker set-up, actors, the dramatiq entry point, per-process
resources, queue maintenance, the lost-message rescue and the metrics server."""
