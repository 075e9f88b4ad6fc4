"""``python -m service <command>``: the pipeline's commands plus ``serve`` and ``api-key`` (see :mod:`service.cli`)."""
import sys

from service.cli import main

sys.exit(main())
