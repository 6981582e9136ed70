import sys

from benchfs.cli import main

sys.exit(main())
