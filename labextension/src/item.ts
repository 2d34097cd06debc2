/**
 * The status-bar item: who I am, the state of my tokens and the time to expiry, as a button
 * that opens the token status page. It redraws the countdown locally (no request) and changes
 * state when the poller hears of a change.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { ITokenStatus, StatusPoller, TokenState } from './poller';

/** The item is shown unless the server is not under JupyterHub. */
export function isShown(status: ITokenStatus | null): boolean {
  return status !== null && status.state !== 'off';
}

/**
 * States in which the user should act (a notification offers "Log in again"). A record over
 * every state: a state added to or removed from the server's schema fails to compile here.
 */
const NEEDS_LOGIN: Record<TokenState, boolean> = {
  fresh: false,
  renewing: false,
  cognito_unreachable: true,
  hub_unreachable: true,
  scope_missing: true,
  ended: true,
  off: false,
  'signed-out': false
};

export function needsLogin(state: TokenState | undefined): boolean {
  return state !== undefined && NEEDS_LOGIN[state] === true;
}

/** The translated label of a state. */
export function stateLabel(
  trans: TranslationBundle,
  state: TokenState
): string {
  const labels: Record<TokenState, string> = {
    fresh: trans.__('fresh'),
    renewing: trans.__('renewing'),
    cognito_unreachable: trans.__('Cognito unreachable'),
    hub_unreachable: trans.__('Hub unreachable'),
    scope_missing: trans.__('token scope missing'),
    ended: trans.__('session ended'),
    off: trans.__('off'),
    'signed-out': trans.__('not signed in')
  };
  return labels[state] ?? trans.__('off');
}

/** "1 h 5 min", "14 min", "45 s" (translated). */
export function timeLeft(trans: TranslationBundle, seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s >= 3600) {
    return trans.__(
      '%1 h %2 min',
      Math.floor(s / 3600),
      Math.floor((s % 3600) / 60)
    );
  }
  if (s >= 120) {
    return trans.__('%1 min', Math.floor(s / 60));
  }
  return trans.__('%1 s', s);
}

export class TokenStatusItem extends Widget {
  constructor(
    private _poller: StatusPoller,
    private _trans: TranslationBundle,
    onClick: () => void
  ) {
    super({ node: document.createElement('div') });
    this.addClass('jp-AIAccess-item');
    this._button = document.createElement('button');
    this._button.type = 'button';
    this._button.className = 'jp-AIAccess-status';
    this._button.addEventListener('click', onClick);
    this._dot = document.createElement('span');
    this._dot.className = 'jp-AIAccess-dot';
    this._dot.setAttribute('aria-hidden', 'true');
    this._text = document.createElement('span');
    this._text.className = 'jp-AIAccess-text';
    this._button.append(this._dot, this._text);
    this.node.appendChild(this._button);
    this._poller.changed.connect(this._onStatus, this);
    this._render();
  }

  /** Emitted when the item starts or stops being shown (the status bar asks isShown). */
  get shownChanged(): ISignal<this, void> {
    return this._shownChanged;
  }

  dispose(): void {
    window.clearTimeout(this._timer);
    super.dispose();
  }

  private _onStatus(_: StatusPoller, status: ITokenStatus): void {
    if (isShown(status) !== this._shown) {
      this._shown = isShown(status);
      this._shownChanged.emit();
    }
    this._render();
  }

  /** Redraw now, and again when the countdown's next digit is due. */
  private _render(): void {
    window.clearTimeout(this._timer);
    const trans = this._trans;
    const status = this._poller.status;
    const state: TokenState = status?.state ?? 'renewing';
    const name =
      status?.cognito_username || status?.user || trans.__('(unknown user)');
    const parts = [name, stateLabel(trans, state)];
    let left: number | null = null;
    if (status?.expires_at && (state === 'fresh' || state === 'renewing')) {
      left = status.expires_at - (Date.now() / 1000 + this._poller.clockOffset);
      parts.push(timeLeft(trans, left));
    }
    this._text.textContent = parts.join(' · ');
    this._button.dataset.state = state;
    const label =
      left === null
        ? trans.__(
            'AI access: %1, tokens %2. Open the token status.',
            name,
            parts[1]
          )
        : trans.__(
            'AI access: %1, tokens %2, expire in %3. Open the token status.',
            name,
            parts[1],
            parts[2]
          );
    this._button.setAttribute('aria-label', label);
    this._button.title =
      status?.last_error && state !== 'fresh'
        ? `${label}\n${status.last_error}`
        : label;
    if (left !== null && left > 0) {
      this._timer = window.setTimeout(
        () => this._render(),
        left > 180 ? 15_000 : 1000
      );
    }
  }

  private _button: HTMLButtonElement;
  private _dot: HTMLSpanElement;
  private _text: HTMLSpanElement;
  private _timer = 0;
  private _shown = false;
  private _shownChanged = new Signal<this, void>(this);
}
