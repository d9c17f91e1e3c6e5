"""Errors of the cis service-instance API, answered as ``{"error": "<message>"}`` like the btp CLI server
(``kymaprov.errors.MessageError``).

- ``CisError`` (400) - base class: bad input
  - ``CisPayloadTooLarge`` (413) - a request body over the size limit
  - ``CisNotFound`` (404) - no such instance, binding or subaccount
  - ``CisConflict`` (409) - the name is taken, or the instance still has bindings
  - ``CisUnauthorized`` (401) - no or bad credentials
  - ``CisForbidden`` (403) - the subaccount belongs to another global account
"""

from __future__ import annotations

from kymaprov.errors import MessageError


class CisError(MessageError):
    status = 400


class CisPayloadTooLarge(CisError):
    status = 413


class CisNotFound(CisError):
    status = 404


class CisConflict(CisError):
    status = 409


class CisUnauthorized(CisError):
    status = 401


class CisForbidden(CisError):
    status = 403
