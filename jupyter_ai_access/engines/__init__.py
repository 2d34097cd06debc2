"""Data engines and experiment trackers in kernels, as the logged-in person.

- :mod:`.process`: ``jupyter-ai-access aws-credentials``, AWS's process-credentials JSON from
  the kernel's own credentials endpoint (for SDKs without the container provider's token file);
- :mod:`.profile`: the kernel's AWS config file naming that command in a profile of its own;
- :mod:`.polars_credentials`: a Polars credential provider that re-asks every minute, so Polars
  stops with the session as boto3 does;
- :mod:`.mlflow_auth`: MLflow's ``request_header_provider`` sending the person's bearer token.
"""
