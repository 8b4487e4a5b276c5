import sys

from maku.cli import main

sys.exit(main())
