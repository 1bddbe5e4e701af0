import sys

from tracecert_verify.cli import main

sys.exit(main())
