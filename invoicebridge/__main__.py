"""`python -m invoicebridge`: the same CLI as the `invoicebridge` command."""

import sys

from invoicebridge.cli import main

sys.exit(main())
