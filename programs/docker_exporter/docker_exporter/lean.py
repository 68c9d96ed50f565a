# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keep the exporter small by not importing what it never uses.

requests (under the Docker SDK) imports a character-set detector, chardet or
charset_normalizer (Debian installs both), only to guess the encoding of
text responses that name none. The exporter reads JSON from the Engine API,
which requests decodes without guessing, and requests 2.32 and later fall
back to UTF-8 when no detector can be imported. Hiding the detectors saves
about 4 MiB of the exporter's resident memory (measured in the closing note
of issue 4). With an older requests the detectors are imported as usual.
"""

from __future__ import annotations

import sys
import warnings

DETECTORS = ("chardet", "charset_normalizer")
# The first requests release whose Response.apparent_encoding works without a detector.
MIN_REQUESTS = (2, 32)


def _version(text: str) -> tuple:
    parts = []
    for part in text.split(".")[:2]:
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def import_requests_without_charset_detection() -> bool:
    """Import requests with the detectors hidden; True if they stayed hidden."""
    if "requests" in sys.modules:
        return False  # too late: whatever it imported is loaded
    hidden = [name for name in DETECTORS if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # makes `import chardet` raise ImportError
    with warnings.catch_warnings():
        # "Unable to find acceptable character detection dependency": expected.
        warnings.filterwarnings("ignore", message=".*character detection dependency")
        import requests
    if _version(requests.__version__) >= MIN_REQUESTS:
        return True
    # An older requests needs a detector: undo, and import it again with one.
    for name in list(sys.modules):
        if name in hidden or name == "requests" or name.startswith("requests."):
            del sys.modules[name]
    import requests  # noqa: F401,F811 - re-imported with the detectors available
    return False
