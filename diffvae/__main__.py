"""``python -m diffvae <command>``: the same as the ``diffvae`` console command."""
from .cli import main

raise SystemExit(main())
