"""schemathesis hooks for tests/e2e/schema.test.mjs (loaded through SCHEMATHESIS_HOOKS).

`PUT /api/workspaces/{id}/archive` takes a tar, tar.gz or zip body under its own media type;
schemathesis has no serializer for those, so it would skip the operation with an error. They are
bytes like `application/octet-stream`: send the generated binary as is (the worker must answer
random bytes with a 4xx, never a 5xx).
"""
import schemathesis

schemathesis.serializer.alias(
    ["application/gzip", "application/x-tar", "application/zip"], "application/octet-stream"
)
