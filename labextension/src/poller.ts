/**
 * Follows the server's token status through one long-poll at a time:
 * GET ai-access/api/status?wait=<s>&since=<version> answers at the next change of state
 * (new tokens, a failure, the end of the session, a renewal or expiry instant passing), so the
 * item learns of a logout at once without polling faster than the state can change.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import type { TokenState, TokenStatus } from './status';

/** The states the status API names: generated from jupyter_ai_access/schemas/status.schema.json. */
export type { TokenState };

/** The status API's answer (never a token value), as the server's JSON Schema defines it. */
export type ITokenStatus = TokenStatus;

/** How long the server may hold one request (it caps this at AIAccessApp.status_wait_max). */
export const WAIT_SECONDS = 120;
/** Never two requests within this long (ms), whatever the server answers. */
export const MIN_INTERVAL_MS = 1000;
/** Retry after a failed request: from 2 s doubling to this (ms). */
export const MAX_BACKOFF_MS = 60_000;

export class StatusPoller {
  constructor(serverSettings?: ServerConnection.ISettings) {
    this._settings = serverSettings ?? ServerConnection.makeSettings();
  }

  /** Emitted with every new status (also when only the time left changed meaning). */
  get changed(): ISignal<this, ITokenStatus> {
    return this._changed;
  }

  /** The last status known, or null before the first answer. */
  get status(): ITokenStatus | null {
    return this._status;
  }

  /** Server clock minus browser clock, in seconds (the countdown uses the server's). */
  get clockOffset(): number {
    return this._offset;
  }

  /** Start following the server (idempotent). */
  start(): void {
    if (!this._running) {
      this._running = true;
      window.addEventListener('focus', this._wakeUp);
      void this._loop();
    }
  }

  /** Stop following; any open request is aborted. */
  dispose(): void {
    this._running = false;
    window.removeEventListener('focus', this._wakeUp);
    this._abort?.abort();
    this._wake?.();
  }

  private async _loop(): Promise<void> {
    let backoff = 0;
    while (this._running) {
      const started = Date.now();
      try {
        const status = await this._fetch();
        backoff = 0;
        this._resync = false;
        this._offset = status.now - Date.now() / 1000;
        this._status = status;
        this._changed.emit(status);
      } catch (error) {
        if (!this._running) {
          return;
        }
        // What the item shows may now differ from the server's state at the same version
        // (a 403 shown as "ended" while a new login's tokens had arrived): ask without waiting.
        this._resync = true;
        const code = (error as ServerConnection.ResponseError).response?.status;
        if ((code === 401 || code === 403) && this._status) {
          // The server no longer knows this browser: its Hub session is over.
          this._status = { ...this._status, state: 'ended' };
          this._changed.emit(this._status);
        }
        backoff = Math.min(Math.max(2000, backoff * 2), MAX_BACKOFF_MS);
        await this._sleep(backoff);
        continue;
      }
      await this._sleep(MIN_INTERVAL_MS - (Date.now() - started));
    }
  }

  private async _fetch(): Promise<ITokenStatus> {
    const query =
      this._status && !this._resync
        ? URLExt.objectToQueryString({
            wait: String(WAIT_SECONDS),
            since: String(this._status.version)
          })
        : '';
    const url =
      URLExt.join(this._settings.baseUrl, 'ai-access/api/status') + query;
    this._abort = new AbortController();
    const response = await ServerConnection.makeRequest(
      url,
      { signal: this._abort.signal, cache: 'no-store' },
      this._settings
    );
    if (!response.ok) {
      throw new ServerConnection.ResponseError(response);
    }
    return (await response.json()) as ITokenStatus;
  }

  /** Wait ``ms``, or less when the window regains focus (back from the login tab). */
  private _sleep(ms: number): Promise<void> {
    if (ms <= 0) {
      return Promise.resolve();
    }
    return new Promise(resolve => {
      const timer = window.setTimeout(done, ms);
      const wake = () => done();
      function done(): void {
        window.clearTimeout(timer);
        resolve();
      }
      this._wake = wake;
    });
  }

  private _wakeUp = (): void => {
    this._wake?.();
  };

  private _settings: ServerConnection.ISettings;
  private _status: ITokenStatus | null = null;
  private _offset = 0;
  private _running = false;
  private _abort: AbortController | null = null;
  private _wake: (() => void) | null = null;
  private _resync = false;
  private _changed = new Signal<this, ITokenStatus>(this);
}
