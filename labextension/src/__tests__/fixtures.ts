/**
 * Status answers as the server gives them in each state, and a stand-in server: a fetch that
 * records each request and answers when the test says so (as a long-poll does).
 */
import { ServerConnection } from '@jupyterlab/services';

import type { TokenState, TokenStatus } from '../status';

/** Every state of the schema's closed set (the contract test checks this list against it). */
export const STATES: TokenState[] = [
  'fresh',
  'renewing',
  'cognito_unreachable',
  'hub_unreachable',
  'scope_missing',
  'ended',
  'off',
  'signed-out'
];

const NOW = 1_800_000_000;

/** A status answer in ``state``, with the fields the server gives in that state. */
export function statusIn(
  state: TokenState,
  overrides: Partial<TokenStatus> = {}
): TokenStatus {
  const held = !['off', 'signed-out', 'ended'].includes(state);
  const expiresAt = NOW + 3600;
  const failed = ['cognito_unreachable', 'hub_unreachable', 'scope_missing'];
  const headline: Record<TokenState, TokenStatus['headline']> = {
    fresh: 'fresh',
    renewing: 'renewing',
    cognito_unreachable: 'unreachable',
    hub_unreachable: 'unreachable',
    scope_missing: 'unreachable',
    ended: 'ended',
    off: 'unavailable',
    'signed-out': 'signed-out'
  };
  return {
    state,
    headline: headline[state],
    message: `The tokens are ${state}.`,
    state_changes_at: state === 'fresh' ? expiresAt - 300 : null,
    version: 3,
    now: NOW,
    under_jupyterhub: state !== 'off' && state !== 'signed-out',
    token_source: state === 'signed-out' ? 'standalone' : 'hub',
    user: state === 'off' ? null : 'alice',
    cognito_username: held ? 'alice' : null,
    groups: held ? ['ml-training'] : [],
    scope: held ? ['openid', 'ai-access/datasets.read'] : [],
    access_token_expires_at: held ? expiresAt : null,
    id_token_expires_at: held ? expiresAt : null,
    seconds_left: held ? 3600 : null,
    expires_at: held ? expiresAt : null,
    renew_at: held ? expiresAt - 300 : null,
    last_renewal: held ? NOW - 10 : null,
    last_error: failed.includes(state) ? 'JupyterHub answered HTTP 502' : null,
    session_ended: state === 'ended',
    login_url:
      state === 'off'
        ? null
        : 'https://hub.example.org/hub/login?next=%2Fuser%2Falice',
    hub_fetches: held ? 1 : 0,
    kernels_with_tokens: 0,
    signed_in: held,
    aws: null,
    ...overrides
  };
}

interface IPending {
  resolve: (response: Response) => void;
  reject: (error: Error) => void;
}

/** A stand-in for the server: records requests, answers each when told to. */
export class FakeServer {
  readonly requests: URL[] = [];
  readonly aborted: URL[] = [];

  readonly fetch = (input: RequestInfo | URL): Promise<Response> => {
    const request = input as Request;
    const url = new URL(request.url);
    this.requests.push(url);
    return new Promise<Response>((resolve, reject) => {
      this._pending.push({ resolve, reject });
      request.signal.addEventListener('abort', () => {
        this.aborted.push(url);
        reject(new DOMException('The request was aborted', 'AbortError'));
      });
    });
  };

  /** Settings for a poller that asks this server. */
  settings(): ServerConnection.ISettings {
    return ServerConnection.makeSettings({
      baseUrl: 'http://localhost:8888/user/alice/',
      fetch: this.fetch
    });
  }

  /** How many requests wait for an answer. */
  get open(): number {
    return this._pending.length;
  }

  /** Answer the oldest open request with ``body`` and HTTP ``status``. */
  answer(body: unknown, status = 200): void {
    this._next().resolve(
      new Response(JSON.stringify(body), {
        status,
        headers: { 'Content-Type': 'application/json' }
      })
    );
  }

  /** Fail the oldest open request as fetch does when the server cannot be reached. */
  fail(): void {
    this._next().reject(new TypeError('Failed to fetch'));
  }

  private _next(): IPending {
    const next = this._pending.shift();
    if (!next) {
      throw new Error('no open request');
    }
    return next;
  }

  private _pending: IPending[] = [];
}
