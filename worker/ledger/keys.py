"""Every Redis key name of the project, in one place; the ledger's Lua scripts that use them
are in `worker.ledger.scripts`.

This module imports nothing, so anything may import a key name (iCash's shared nonce does)
without loading the ledger.
"""

from __future__ import annotations

EVENT = "ib:event:{}"  #: hash per event
EVENTS = "ib:events"  #: zset event id -> received at (unix s)
STATE = "ib:state:{}"  #: zset per event state: event id -> received at
STATS = "ib:stats:{}"  #: hash per UTC hour (unix s // 3600): state reached -> how many times
UNQUEUED = "ib:unqueued"  #: zset of events recorded but not yet handed to the queue
JOB = "ib:job:{}"  #: hash per job step, key tenant:order:step
JOBS = "ib:jobs"  #: zset job key -> first started at
ATTEMPTS = "ib:attempts:{}"  #: list per job step of JSON {at, state, error | document}
CLAIM = "ib:enqueue-claim:{}"  #: who queues a recorded event (expires)
ORDER = "ib:order:{}:{}"  #: hash step -> state, per tenant and order
LOCK = "ib:lock:{}:{}"  #: one worker at a time per order
SNAPSHOT = "ib:snapshot:{}:{}"  #: the newest order snapshot seen (JSON), per tenant and order
REFUNDS = "ib:refunds:{}:{}"  #: hash refund id -> Refund JSON, every refund seen for an order
#: how the order was paid (Payment JSON), from an event told apart from the order (Shopify
#: `order_transactions/create`) or an order event that named its transaction; per tenant and order
PAYMENT = "ib:payment:{}:{}"
PAUSED = "ib:paused"  #: set of tenant ids whose events the workers hold back
PINGS = "ib:pings"  #: hash tenant id -> when its platform last sent a set-up ping (unix s)
#: iCash: the last nonce one api_key sent (its hash in the name), shared by every process
ICASH_NONCE = "ib:icash:nonce:{}"
#: per tenant: when its next webhook is due (ms), shared by every receiver
WEBHOOK_RATE = "ib:limit:webhooks:{}"
#: a counter the receiver bumps before Redis WAIT, so the wait covers every earlier write
REPLICA_PROBE = "ib:replica-probe"
#: per tenant: the theoretical arrival time of its next event (ms), `worker.jobs.limits`
LIMIT_RATE = "ib:limit:rate:{}"
LIMIT_SLOTS = "ib:limit:slots:{}"  #: per tenant: zset of lease token -> expires at (ms)
#: list per event of JSON {action, who, at, note, event_id}, oldest first (operator actions)
ACTIONS = "ib:actions:{}"
ALL_ACTIONS = "ib:actions"  #: list of every operator action, newest first, capped
# the alerts' keys, all under ib:alerts:
#: zset per tenant and outcome ("done" | "failed"): event id -> finished at (unix ms)
ALERT_OUTCOMES = "ib:alerts:outcomes:{}:{}"
#: per tenant, present while a failure_rate alert is cooling down
ALERT_COOLDOWN = "ib:alerts:cooldown:{}"
#: per event and failure episode (the event's `updated_at` when it failed): alerted already
ALERT_SENT = "ib:alerts:sent:{}:{}"
#: per tenant: `webhook:ok`, `webhook:failed`, `email:ok`, `email:failed` (for ops and metrics)
ALERT_DELIVERIES = "ib:alerts:deliveries:{}"

STATS_KEEP_S = 8 * 86_400  #: hourly tallies older than this expire (they are not the ledger)
#: states the hourly tallies count (what the dashboard charts)
TALLIED = ("received", "done", "failed", "needs_attention", "retrying")
