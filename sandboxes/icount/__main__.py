"""`python -m sandboxes.icount [options]`: the sandbox on a port."""

from sandboxes.icount.app import main

raise SystemExit(main())
