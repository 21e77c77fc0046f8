"""Everything behind the queue: settings, ledger, planner, jobs, actors, providers."""
