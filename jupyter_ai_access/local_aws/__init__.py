"""A local AWS for the demo and tests: IAM roles and S3 policies from the pool description.

:mod:`jupyter_ai_access.pooldesc.access` (standard library, shared with ``infra/``) builds the
roles and policy documents; :mod:`.emulator` runs moto's server on loopback seeded with them (needs
the ``demo`` extra); :mod:`._compat` is the only place touching moto's private names.
"""
