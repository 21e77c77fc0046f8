"""On-call operations on the ledger: act (`actions`), find and inspect (`find`), the
overview (`overview`) and retention (`prune`)."""
