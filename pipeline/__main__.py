import sys

from pipeline.cli import main
from pipeline.privacy.audit import set_actor

set_actor("cli")            # the audit log names the command line as who acted
sys.exit(main())
