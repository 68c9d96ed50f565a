"""Stand-in for pip's get-pip.py, for ansible-test's sanity virtualenvs.

ansible-test bootstraps pip in each virtualenv it creates by downloading
get-pip.py from a host that this project's machines cannot reach. This
script does the same job with what Python already ships: ensurepip installs
the bundled pip, then pip installs exactly the packages ansible-test asked
for (e.g. pip==24.2) from the configured package index.
"""

import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"],
                      stdout=subprocess.DEVNULL)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
