/* Generated from jupyter_ai_access/schemas/status.schema.json by labextension/scripts/schema-types.mjs (npm run schema:types): do not edit. */

/**
 * The state the status-bar item shows (jupyter_ai_access.server.state): fresh (renewal not due yet), renewing (no tokens yet, or renewal due), cognito_unreachable (the Hub cannot reach Amazon Cognito), hub_unreachable (JupyterHub cannot be reached or answers with an error), scope_missing (the Hub refused: the server's role lacks the token scope), ended (the JupyterHub session is over), off (not under JupyterHub), signed-out (a standalone server nobody signed in yet).
 */
export type TokenState =
  'fresh' | 'renewing' | 'cognito_unreachable' | 'hub_unreachable' | 'scope_missing' | 'ended' | 'off' | 'signed-out';

/**
 * The answer of GET /ai-access/api/status[?wait=<s>&since=<version>] (jupyter_ai_access.server.status.status_model): who the user is, the state of the tokens and when they expire. Never a token value. The JupyterLab extension's types (labextension/src/status.d.ts) are generated from this file.
 */
export interface TokenStatus {
  state: TokenState;
  /**
   * The status page's headline: one word for people ("unavailable": no token delivery here, not under JupyterHub).
   */
  headline: 'fresh' | 'renewing' | 'unreachable' | 'ended' | 'unavailable' | 'signed-out';
  /**
   * One sentence for people about the headline.
   */
  message: string;
  /**
   * When the state changes by itself next (Unix time, s); null: only on an event.
   */
  state_changes_at: number | null;
  /**
   * Bumped at every change; the long-poll's since=.
   */
  version: number;
  /**
   * The server's clock (Unix time, s): the countdown uses it.
   */
  now: number;
  /**
   * A JupyterHub delivers the tokens (false: standalone or off).
   */
  under_jupyterhub: boolean;
  token_source: 'hub' | 'standalone';
  /**
   * The JupyterHub user name (or the standalone server's), null when unknown.
   */
  user: string | null;
  cognito_username: string | null;
  groups: string[];
  scope: string[];
  access_token_expires_at: number | null;
  id_token_expires_at: number | null;
  /**
   * Until the first of the two tokens expires (s, rounded; negative once expired).
   */
  seconds_left: number | null;
  /**
   * When the first of the two tokens expires (Unix time, s).
   */
  expires_at: number | null;
  /**
   * When renewal is due (expires_at - TokenBroker.renew_before).
   */
  renew_at: number | null;
  last_renewal: number | null;
  /**
   * The last failure, for people (never a token value).
   */
  last_error: string | null;
  session_ended: boolean;
  /**
   * Where to log in again (absolute when the Hub's public URL is known).
   */
  login_url: string | null;
  hub_fetches: number;
  kernels_with_tokens: number;
  signed_in: boolean;
  /**
   * The AWS credentials' state (never a key); null without AWS.
   */
  aws: null | AWSStatus;
}
export interface AWSStatus {
  exchange: 'identity_pool' | 'web_identity';
  principal: string | null;
  expires_at: number | null;
  exchanges: number;
  last_error: string | null;
}
