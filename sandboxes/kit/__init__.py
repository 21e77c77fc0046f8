"""What every provider sandbox shares: fault plans (`faults`), request bodies (`parsing`),
the `/_sandbox` control routes (`control`), and serving on a socket or from the command line
(`serve`)."""
