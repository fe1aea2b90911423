"""``python -m activity_core.cli``: the same as the ``actcore`` command."""

from activity_core.cli import main

main()
