"""`python -m sandboxes.icash [options]`: the sandbox on a port."""

from sandboxes.icash.app import main

raise SystemExit(main())
