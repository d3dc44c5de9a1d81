"""Schemathesis hooks for scripts/api-fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

tus bodies (`application/offset+octet-stream`, POST and PATCH /v1/uploads) are raw bytes:
generate and send them as schemathesis does `application/octet-stream`."""

import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
