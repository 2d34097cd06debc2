# JupyterHub configuration for jupyter_ai_access on one machine.
#
# Started by ./run-demo (`jupyterhub -f jupyterhub_config.py`). By default everything runs here:
#   - the local Cognito emulator (the demo user pool), started and stopped by the Hub as a service;
#   - the example model registry (examples/model_registry.py), a protected resource;
#   - JupyterHub with the Cognito authenticator, configurable-http-proxy from node_modules, and
#     JupyterLab single-user servers whose kernels receive the logged-in user's tokens.
#
# To use a real Cognito user pool instead of the emulator, set (see docs/how-to/real-user-pool.md,
# "The app client on a real user pool"):
#   COGNITO_REGION, COGNITO_USER_POOL_ID   (or COGNITO_ISSUER)
#   COGNITO_DOMAIN                         the user-pool domain, https://<prefix>.auth.<region>...
#   COGNITO_CLIENT_ID, COGNITO_CLIENT_SECRET (or COGNITO_CLIENT_SECRET_FILE)
#   COGNITO_ACTOR_CLIENT_ID, COGNITO_ACTOR_CLIENT_SECRET (or _FILE): the actor of token exchanges
#
# Every setting below can be changed here; environment variables named JAIA_* move ports and
# folders without editing this file (docs/tutorial/local-demo.md, "What runs", lists them;
# ./run-demo warns about a JAIA_* name that nothing reads, such as a misspelling).
import json
import os
import shutil
import sys
from pathlib import Path

from jupyter_ai_access.cognito.settings import COGNITO_ENV
from jupyter_ai_access.hub.tokens_api import configure_token_delivery
from jupyter_ai_access.demo.deployment import (
    check_ports, claim_accounts, demo_ports, exit_with_hub, hub_urls, isolate_users,
    pool_for_hub, previous_hub_killed, public_url,
)
from jupyter_ai_access.demo.settings import (
    ACCOUNT_PREFIX, DEMO_POOL_FILE, HOST, HUB_CLIENT, STATE_DIR, local_url,
)
from jupyter_ai_access.local_cognito.generated import ensure_generated
from jupyter_ai_access.pooldesc import load_pool
from jupyter_ai_access.local_cognito.supervise import SUPERVISOR_SCOPES, SUPERVISOR_TOKEN_ENV
from jupyter_ai_access.protocol import AWSEnv, CognitoEnv

c = get_config()  # noqa: F821 - provided by JupyterHub
ACTOR_CLIENT = "jupyterhub-actor"  # the demo pool's actor client (demo-pool.json)

HERE = Path(__file__).resolve().parent
STATE = Path(os.environ.get("JAIA_STATE_DIR", HERE / STATE_DIR)).resolve()
STATE.mkdir(parents=True, exist_ok=True, mode=0o700)
STATE.chmod(0o700)  # the Hub's database, cookie secret and crypt key: the Hub's account only
USE_REAL_COGNITO = any(os.environ.get(k) for k in COGNITO_ENV)
# Every port the demo binds (JAIA_HUB_PORT, JAIA_PROXY_API_PORT, JAIA_HUB_API_PORT,
# JAIA_REGISTRY_PORT, JAIA_AWS_PORT, JAIA_COGNITO_PORT), checked before anything starts: a taken
# port stops here with one line that names the variable moving it, and nothing is left running.
PORTS = demo_ports(os.environ, emulator=not USE_REAL_COGNITO)
# After a Hub that was killed (SIGKILL, OOM): its services exit within a second (exit_with_hub
# below), so wait for their ports; a leftover proxy JupyterHub replaces itself (pid file).
KILLED, PROXY_LEFT = previous_hub_killed(STATE / "jupyterhub.pid", STATE / "jupyterhub-proxy.pid")
check_ports(PORTS, wait=45 if KILLED else 0,
            skip=("JupyterHub", "the proxy's API") if PROXY_LEFT else ())
HUB_PORT = PORTS["JupyterHub"][0]
PROXY_API_PORT = PORTS["the proxy's API"][0]
HUB_API_PORT = PORTS["the Hub's internal API"][0]
REGISTRY_PORT = PORTS["the example registry"][0]
COGNITO_PORT = PORTS.get("the local Cognito emulator", (0, ""))[0]
AWS_PORT = PORTS["the local AWS emulator"][0]
PUBLIC_URL = public_url(os.environ, HUB_PORT)  # JAIA_PUBLIC_URL; one line when not a URL
POOL_FILE = Path(os.environ.get("JAIA_POOL_FILE", DEMO_POOL_FILE))
NODE = os.environ.get("JUPYTER_AI_ACCESS_NODE") or shutil.which("node") or "node"

# ------------------------------------------------------------------ the Hub and its proxy
c.JupyterHub.ip = HOST  # loopback only: put a TLS-terminating proxy in front for more
c.JupyterHub.port = HUB_PORT
# The Hub's public URL: links sent to kernels ("log in again at ...") and Cognito's sign-out
# return address are built from it, never from a request's Host header.
c.JupyterHub.public_url = PUBLIC_URL
c.JupyterHub.hub_ip = HOST
c.JupyterHub.hub_port = HUB_API_PORT
c.ConfigurableHTTPProxy.api_url = local_url(PROXY_API_PORT)
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.ConfigurableHTTPProxy.command = [NODE, str(HERE / "node_modules/.bin/configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
# A Hub restart (SIGTERM, SIGKILL, an upgrade) leaves users' servers and kernels running: the
# next Hub takes them back from its database, and their kernels keep getting tokens
# (docs/how-to/operations.md, "Restarting the Hub"). Stopping ./run-demo (Ctrl-C) stops them
# first through the API (see "./run-demo's supervisor" below); JAIA_STOP_SERVERS_WITH_HUB=1 makes
# every Hub stop do so.
c.JupyterHub.cleanup_servers = os.environ.get("JAIA_STOP_SERVERS_WITH_HUB", "") == "1"

# auth_state (the users' tokens) is encrypted with JUPYTERHUB_CRYPT_KEY. When none is given, one
# is generated on first run and kept in a 0600 file, so logins survive a restart of the Hub.
if not os.environ.get("JUPYTERHUB_CRYPT_KEY"):
    key_file = STATE / "jupyterhub_crypt_key"
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(os.urandom(32).hex())
    c.CryptKeeper.keys = [key_file.read_text().strip()]

# ------------------------------------------------------------------ the identity provider
c.JupyterHub.authenticator_class = "cognito"
c.CognitoOAuthenticator.scope = [
    "openid", "email", "profile", "ai-access/datasets.read", "ai-access/models.write",
    # the downstream resource servers' scopes that per-resource tokens may carry (Cognito narrows
    # an exchanged token to the scopes of the user's access token; the policy below narrows more)
    "model-registry/models.read", "model-registry/models.write", "data-service/datasets.read",
    "tracker/runs.read", "tracker/runs.write",
]
# Per-resource tokens (docs/how-to/per-resource-tokens.md): which audiences and scopes each group's
# kernels may get a token for, exchanged at the Hub (RFC 8693) with the Hub's actor client named
# in the token's act claim. Anything else is refused (403 audience_refused).
c.CognitoOAuthenticator.exchange_policy = {
    "ml-training": {
        "data-service": ["data-service/datasets.read"],
        "tracker": ["tracker/runs.read", "tracker/runs.write"],
    },
    "ml-publishers": {
        "model-registry": ["model-registry/models.read", "model-registry/models.write"],
    },
}
c.CognitoOAuthenticator.exchange_actor_scopes = ["notebook-platform/act"]
# c.CognitoOAuthenticator.exchange_renew_margin = 60  # renew per-resource tokens this early (s)
c.CognitoOAuthenticator.allowed_groups = {"ml-training", "ml-publishers", "hub-admins"}
# JupyterHub admins can stop anyone's server and read auth_state (never a usable refresh token:
# it is sealed). Publishing models (ml-publishers) is a right at the registry, not Hub admin.
c.CognitoOAuthenticator.admin_groups = {"hub-admins"}
# c.CognitoOAuthenticator.refresh_margin = 300      # refresh tokens this long before expiry (s)
# c.CognitoOAuthenticator.identity_provider = ""     # go straight to a federated IdP
# c.CognitoOAuthenticator.username_claim = "cognito:username"  # or "email" (verified only)

services = []
if not USE_REAL_COGNITO:
    # The emulator registers the Hub's actual callback and sign-out URLs (ports moved or not).
    pool_file = pool_for_hub(POOL_FILE, HUB_CLIENT, hub_urls(HUB_PORT, PUBLIC_URL), STATE)
    pool = load_pool(pool_file)
    client = pool.client(HUB_CLIENT)
    cognito_url = local_url(COGNITO_PORT)
    issuer = f"{cognito_url}/{pool.user_pool_id}"
    c.CognitoOAuthenticator.issuer = issuer
    c.CognitoOAuthenticator.domain = cognito_url
    c.CognitoOAuthenticator.client_id = client.client_id
    # The demo's secrets are generated once per state folder (the emulator reads the same files).
    generated = ensure_generated(STATE / "local-cognito", pool)
    c.CognitoOAuthenticator.client_secret = generated.client_secrets[client.client_id]
    # The actor of token exchanges: the pool's machine client (client_credentials), whose token
    # the Hub presents so exchanged tokens name the notebook platform (act.client_id).
    actor = pool.client(ACTOR_CLIENT)
    c.CognitoOAuthenticator.exchange_actor_client_id = actor.client_id
    c.CognitoOAuthenticator.exchange_actor_client_secret = generated.client_secrets[
        actor.client_id
    ]
    # The Hub's services exit when the Hub dies (exit_with_hub), so a restarted Hub can start
    # them again even after SIGKILL; their state (sessions, refresh tokens, keys) is on disk.
    services.append({
        "name": "local-cognito",
        "command": exit_with_hub([
            sys.executable, "-m", "jupyter_ai_access.cli", "local-cognito",
            f"--pool={pool_file}", f"--port={COGNITO_PORT}",
            f"--state-dir={STATE / 'local-cognito'}",
        ]),
        "environment": {"JUPYTER_AI_ACCESS_NODE": NODE},
    })
    # The registry accepts the Hub's tokens and the demo jobs' machine tokens (training-jobs).
    registry_env = {CognitoEnv.ISSUER: issuer,
                    CognitoEnv.CLIENT_IDS: ",".join(c.client_id for c in pool.app_clients)}
else:
    # The authenticator reads COGNITO_* itself; the registry needs the same pool, and accepts the
    # tokens of $COGNITO_CLIENT_IDS (the Hub's client and the jobs'), else the Hub's client only.
    registry_env = {k: v for k, v in os.environ.items()
                    if k in (CognitoEnv.ISSUER, CognitoEnv.REGION, CognitoEnv.USER_POOL_ID,
                             CognitoEnv.CLIENT_ID, CognitoEnv.CLIENT_IDS)}

# ------------------------------------------------------------------ the example protected resource
services.append({
    "name": "model-registry",
    "command": exit_with_hub([sys.executable, str(HERE / "examples/model_registry.py")]),
    # Strict: only tokens bound to its audience (model-registry), i.e. the per-resource tokens
    # kernels get through the URL map below; a broad token (the user's own) is refused.
    "environment": {**registry_env, "REGISTRY_PORT": str(REGISTRY_PORT),
                    "REGISTRY_DIR": str(STATE / "registry")},
})

# ------------------------------------------------------------------ experiment tracking (optional)
# JAIA_MLFLOW=on: an MLflow tracking server behind jupyter_ai_access's verifier (on
# $JAIA_MLFLOW_PORT, default 5000; docs/how-to/data-engines.md, "MLflow"). Runs are recorded as
# the token's user, writes to another user's run are refused; artifacts are served by the
# tracking server, in the state folder. Its venv (full MLflow, constraints-mlflow-server.txt) is
# made on the first start (a few minutes); kernels use MLflow's client (the mlflow extra).
MLFLOW_URL = ""
if os.environ.get("JAIA_MLFLOW", "off") == "on":
    import importlib.util

    from jupyter_ai_access.engines.mlflow_venv import ensure_server_venv

    if importlib.util.find_spec("mlflow") is None:
        sys.exit("jupyter_ai_access: JAIA_MLFLOW=on: kernels need MLflow's client; install it "
                 "with .venv/bin/pip install -c constraints.txt -e '.[mlflow]'")
    MLFLOW_PORT = int(os.environ.get("JAIA_MLFLOW_PORT", "5000"))
    check_ports({"the MLflow tracking server": (MLFLOW_PORT, "JAIA_MLFLOW_PORT")},
                wait=45 if KILLED else 0)
    MLFLOW_URL = local_url(MLFLOW_PORT)
    services.append({
        "name": "mlflow",
        "command": exit_with_hub([
            sys.executable, "-m", "jupyter_ai_access.engines.mlflow_service",
            f"--port={MLFLOW_PORT}", f"--mlflow={ensure_server_venv()}",
            f"--state-dir={STATE / 'mlflow'}",
        ]),
        # per-resource tokens of the tracker audience only (the URL map below), as the registry
        "environment": {**registry_env, "TRACKER_AUDIENCE": "tracker"},
    })

# ------------------------------------------------------------------ AWS credentials in kernels
# A local AWS (moto's server on loopback, IAM enforcement on) holding the demo bucket, one role per
# group and its S3 policy, all made from the pool description's "aws" section, and a Cognito
# identity pool for the user pool. Each user's server exchanges the user's ID token for their
# group's role (identity pool, enhanced flow: GetId + GetCredentialsForIdentity, unsigned) and
# serves the credentials to botocore in kernels: plain boto3, the AWS CLI and s3fs work. As on
# AWS, the roles trust the identity pool only, and the identity pool (the local AWS checks the ID
# token against the user pool's keys) grants a role only to members of its group: a trainer's
# kernel cannot get the publishers' role with its own token. Its management API (/moto-api/,
# every credential it issued) answers only $JAIA_LOCAL_AWS_OPERATOR_SECRET (default: random).
# With a real Cognito pool, point these at real AWS instead (docs/how-to/aws-credentials.md).
aws_environment = {}
if not USE_REAL_COGNITO and os.environ.get("JAIA_LOCAL_AWS", "on") != "off":
    import secrets

    from jupyter_ai_access.local_aws.emulator import ACCOUNT, OPERATOR_SECRET_ENV
    from jupyter_ai_access.local_aws.identity import identity_pool_id_for
    from jupyter_ai_access.pooldesc.access import aws_access

    access = aws_access(pool, str(POOL_FILE))
    services.append({
        "name": "local-aws",
        "command": exit_with_hub([
            sys.executable, "-m", "jupyter_ai_access.local_aws", f"--pool={POOL_FILE}",
            f"--port={AWS_PORT}", f"--client-id={client.client_id}",
            "--exchange=identity_pool", f"--issuer={issuer}",
        ]),
        "environment": {  # the environment, not the command line: `ps` shows command lines
            OPERATOR_SECRET_ENV: os.environ.get(OPERATOR_SECRET_ENV) or secrets.token_urlsafe(32),
        },
    })
    aws_environment = {
        AWSEnv.ENDPOINT_URL: local_url(AWS_PORT),  # the server's exchange, kernels' boto3
        AWSEnv.REGION: pool.region,
        "AI_ACCESS_BUCKET": access.bucket,
        AWSEnv.EXCHANGE: "identity_pool",
        AWSEnv.IDENTITY_POOL_ID: identity_pool_id_for(
            pool.region, pool.user_pool_id, client.client_id
        ),
        # the first group (in this order) that a user belongs to picks the role (CustomRoleArn);
        # the identity pool grants it only to that group's members
        AWSEnv.GROUP_ROLES: json.dumps({
            group: f"arn:aws:iam::{ACCOUNT}:role/{access.role_name(group)}"
            for group in access.group_access
        }),
    }
c.JupyterHub.services = services

# ------------------------------------------------------------------ token delivery
# Defines the scope custom:ai-access:tokens and grants it, filtered to the server's own user, to
# the `server` role: single-user servers can fetch their user's short-lived tokens (never the
# refresh token) from /hub/api/ai-access/users/<name>/tokens.
# The MLflow proxy (JAIA_MLFLOW=on) follows ended sessions too.
configure_token_delivery(
    c, revocation_readers=["model-registry"] + (["mlflow"] if MLFLOW_URL else [])
)

# ------------------------------------------------------------------ ./run-demo's supervisor
# Stopping ./run-demo (Ctrl-C) stops users' servers through the API first, with a token made for
# that run only (jupyter_ai_access/local_cognito/supervise.py); a Hub restart keeps them.
SUPERVISOR_TOKEN = os.environ.pop(SUPERVISOR_TOKEN_ENV, "")
if SUPERVISOR_TOKEN:
    c.JupyterHub.services.append({"name": "demo-supervisor", "api_token": SUPERVISOR_TOKEN})
    c.JupyterHub.load_roles = [*c.JupyterHub.load_roles, {
        "name": "demo-supervisor", "services": ["demo-supervisor"], "scopes": SUPERVISOR_SCOPES,
    }]

# ------------------------------------------------------------------ single-user servers
# A kernel runs arbitrary code as its OS user: users who must not see each other's tokens need
# separate OS accounts. Run as root (containers, CI), the demo gives each Cognito user a system
# account of their own (jaia-<name>, created on first login; home 0700, token folders in a
# private runtime folder), or refuses to start when those accounts could not run the servers
# from this checkout (a 0700 folder above it): it never falls back to running users' code as
# root. JAIA_ISOLATION=off says so on purpose (every server then runs as this account, as root
# too). Run as anyone else it cannot isolate, and says so: every server runs as you, and users
# can read each other's tokens (fine for trying it alone on a laptop).
ISOLATED = isolate_users(os.environ, root=os.getuid() == 0, paths=[Path(sys.executable), HERE])
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
# Per-resource tokens with no code change (docs/how-to/per-resource-tokens.md): the kernels'
# RequestsAuth()/HttpxAuth() send requests under the registry's URL a token bound to its
# audience (model-registry, exchanged at the Hub with the actor named in act), with the scopes
# the user's groups may have for it (exchange_policy: ml-publishers read and write); a user whose
# groups may not (bob) gets AudienceRefusedError in the kernel, naming exchange_policy.
REGISTRY_URL = local_url(REGISTRY_PORT)
KERNEL_AUDIENCES = {REGISTRY_URL + "/": "model-registry"}
if MLFLOW_URL:  # MLflow's client sends tracker-bound tokens (engines/mlflow_auth.py)
    KERNEL_AUDIENCES[MLFLOW_URL + "/"] = "tracker"
c.Spawner.args = [f"--KernelTokenStore.audiences={json.dumps(KERNEL_AUDIENCES)}"]
c.Spawner.default_url = "/lab/tree/train.ipynb"  # JupyterLab, with the example open
c.Spawner.environment = {
    "AI_ACCESS_REGISTRY_URL": REGISTRY_URL, **aws_environment,
    # this environment's commands first (the AWS CLI, jupyter) in notebooks and terminals
    "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
}
if MLFLOW_URL:
    c.Spawner.environment["MLFLOW_TRACKING_URI"] = MLFLOW_URL
# the example notebooks every user finds in their home: the per-person tokens and AWS
# credentials (train.ipynb), and training from Parquet on S3 with Arrow and Polars, logged to
# MLflow when JAIA_MLFLOW=on (train_engines.ipynb)
EXAMPLES = ("train.ipynb", "train_engines.ipynb")
if ISOLATED:
    c.JupyterHub.spawner_class = "jupyter_ai_access.hub.spawner.AccountPerUserSpawner"
    c.AccountPerUserSpawner.account_prefix = os.environ.get("JAIA_ACCOUNT_PREFIX", ACCOUNT_PREFIX)
    # Two demos with the same prefix would share the accounts (one's alice is the other's):
    # the second refuses to start, naming JAIA_ACCOUNT_PREFIX. Held while the Hub runs.
    ACCOUNTS_CLAIM = claim_accounts(c.AccountPerUserSpawner.account_prefix, STATE)
    c.AccountPerUserSpawner.skeleton_files = [str(HERE / "examples" / name) for name in EXAMPLES]
    # which Hub user and Cognito identity each account was made for (a mismatch is refused)
    c.AccountPerUserSpawner.bindings_dir = str(STATE / "accounts")
else:
    c.JupyterHub.spawner_class = "simple"
    c.SimpleLocalProcessSpawner.home_dir_template = str(STATE / "users" / "{username}")
    if os.getuid() == 0:
        c.Spawner.args.append("--allow-root")  # JAIA_ISOLATION=off as root, said explicitly
        why = "JAIA_ISOLATION=off: every user's notebook runs as root on this machine"
    else:
        why = "run the Hub as root for one account per user (docs/explanation/security.md)"
    print(
        "WARNING: users are NOT isolated: every user's server runs as this OS account "
        f"({os.environ.get('USER') or os.getuid()}), so any user's notebook can read every "
        f"other user's tokens; {why}.",
        file=sys.stderr,
    )

    def copy_example_notebook(spawner):  # noqa: ANN001, ANN201 - JupyterHub's hook signature
        """Give every user the example notebooks their home does not have (nor a link of)."""
        from jupyter_ai_access.hub.rootfiles import open_dir, place_file

        home = Path(spawner.home_dir_template.format(username=spawner.user.name))
        with open_dir(home, "SimpleLocalProcessSpawner.home_dir_template", mode=0o755) as folder:
            for name in EXAMPLES:
                place_file(folder, name, HERE / "examples" / name, os.getuid(), os.getgid())

    c.Spawner.pre_spawn_hook = copy_example_notebook
# c.Spawner.environment["JUPYTER_AI_ACCESS_..."]: see docs/explanation/token-delivery.md

# ------------------------------------------------------------------ logging
# c.JupyterHub.log_level = "DEBUG"  # tokens are never logged, at any level
print(json.dumps({"hub": local_url(HUB_PORT), "real_cognito": USE_REAL_COGNITO,
                  "isolated": ISOLATED}), file=sys.stderr)
