"""Jobs: what a worker does with one queued event (`process.process_event`), the plan of its
steps (`planner`), the step runner and charging (`runner`, `charging`), and the helpers they
use: payment details, refunds, tenant limits, the mailer and its once-only guard."""
