"""`python -m msaflow` = the `msaflow` command (how the workflow's rules run it, see
msaflow.workflow_support.msaflow_shell_prefix)."""

import sys

from msaflow.cli import main

sys.exit(main())
