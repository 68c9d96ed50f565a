# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options, state and attributes shared by the grafana_* modules.

They match grafana_api.grafana_argument_spec(). Each module adds its own
diff_mode description (what before and after hold) and may reword state.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of Grafana, for example V(http://127.0.0.1:3000).
    type: str
    required: true
    aliases: [grafana_url]
  token:
    description:
      - "Service-account token sent as C(Authorization: Bearer). Preferred over basic auth."
      - Never printed; errors are redacted.
    type: str
    aliases: [grafana_api_key]
  url_username:
    description: User for basic auth, used when O(token) is not set.
    type: str
    aliases: [grafana_user]
  url_password:
    description: Password for basic auth. Never printed.
    type: str
    aliases: [grafana_password]
  validate_certs:
    description: Verify the TLS certificate of an V(https) URL.
    type: bool
    default: true
  ca_path:
    description: PEM file of the CA that signed Grafana's certificate.
    type: path
  timeout:
    description: Seconds to wait for one HTTP answer.
    type: int
    default: 10
  wait_timeout:
    description:
      - Seconds to keep retrying while Grafana starts (connection refused, 502, 503, 504)
        before failing. V(0) fails at the first refusal.
    type: int
    default: 60
  state:
    description: V(present) creates or updates; V(absent) deletes.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    support: full
    description: Reports what would change, writes nothing.
  diff_mode:
    support: full
notes:
  - Objects are keyed by uid, never by title or numeric id.
  - Errors for 401, 403, 404, 409, 412 and 5xx name the call and the fix and never
    contain the token or password.
"""
