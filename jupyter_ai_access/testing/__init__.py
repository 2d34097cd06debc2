"""Test helpers shipped with the package: a token factory, canaries, a hosted-UI client, fixtures.

Needs the ``test`` extra (httpx, pytest).
"""
