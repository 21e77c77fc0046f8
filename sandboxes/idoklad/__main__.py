"""`python -m sandboxes.idoklad [options]`: the sandbox on a port."""

from sandboxes.idoklad.app import main

raise SystemExit(main())
