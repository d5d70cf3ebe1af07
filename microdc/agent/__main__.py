"""``python -m microdc.agent``: same as the ``microdc-agent`` console script."""

from microdc.agent.cli import main

raise SystemExit(main())
