"""`make chaos`: the whole system under load while its parts are killed, restarted and faulted
(`suite`), the low-traffic phase (`trickle`), the killable workers (`workers`) and the
`invoicebridge chaos` command (`cli`)."""
