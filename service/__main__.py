"""``python -m service <command>``: the pipeline's commands plus ``serve`` and ``api-key`` (see :mod:`service.cli`)."""
import sys

from pipeline.privacy.audit import set_actor
from service.cli import main

set_actor("cli")            # the audit log names the command line as who acted, as ``python -m pipeline`` does
sys.exit(main())
