"""The local deployment (``./run-demo``, ``jupyterhub_config.py``): its fixed settings and helpers.

Not product code: nothing in ``hub/``, ``server/``, ``resource/`` or the kernel client imports it.
"""
