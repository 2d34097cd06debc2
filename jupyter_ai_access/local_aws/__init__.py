"""A local AWS for the demo and tests: IAM roles and S3 policies from the pool description.

:mod:`.access` (standard library) builds roles and policy documents, shared with ``infra/``;
:mod:`.emulator` runs moto's server on loopback seeded with them (needs the ``demo`` extra).
"""
