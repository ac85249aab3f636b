"""Process settings that must be in place before torch is loaded; entry scripts import this module first.

With another busy process on a 2-core machine, OpenMP's spinning worker threads slowed joint training about 10x;
passive waiting costs nothing when the machine is idle.  OpenMP reads ``OMP_WAIT_POLICY`` once, when torch loads
it, so this module must be imported before anything imports torch (in a script: its first import, kept apart
from the sorted imports by ``# isort: split``).  A value already in the environment is left alone.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
