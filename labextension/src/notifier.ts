/**
 * The notifications of the session: "Log in again" while the user has to act, and once more,
 * briefly, when all is well again. A refusal between two good answers (the browser's cookie of
 * the old session refused once while the new login's tokens had already arrived) leaves one
 * notification on screen, not one per flicker.
 */
import { Notification } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';

import { needsLogin, stateLabel } from './item';
import { ITokenStatus, TokenState } from './poller';

/** Dismiss notification ``id`` if there is one (no id: none; never all); the id to keep. */
function dismissed(id: string): string {
  if (id) {
    Notification.dismiss(id);
  }
  return '';
}

/** Notifies when the user has to act, and once more when all is well again. */
export class Notifier {
  constructor(
    private _trans: TranslationBundle,
    private _login: () => void
  ) {}

  update(status: ITokenStatus): void {
    const trans = this._trans;
    if (needsLogin(status.state)) {
      if (this._shownFor === status.state) {
        return;
      }
      this._id = dismissed(this._id);
      this._welcomeId = dismissed(this._welcomeId);
      this._shownFor = status.state;
      const message =
        status.state === 'ended'
          ? trans.__(
              'Your JupyterHub session has ended: your kernels no longer get tokens. Log in again to continue.'
            )
          : trans.__(
              'Your tokens cannot be renewed (%1). Kernels keep the current ones until they expire.',
              stateLabel(trans, status.state)
            );
      this._id = Notification.emit(
        message,
        status.state === 'ended' ? 'warning' : 'error',
        {
          autoClose: false,
          actions: [
            {
              label: trans.__('Log in again'),
              caption: trans.__('Opens the login page in a new tab'),
              displayType: 'accent',
              callback: () => this._login()
            }
          ]
        }
      );
    } else if (this._shownFor !== null && status.state === 'fresh') {
      this._id = dismissed(this._id);
      this._shownFor = null;
      // one "logged in again" at a time, however often it flickered
      this._welcomeId = dismissed(this._welcomeId);
      this._welcomeId = Notification.success(
        trans.__('Logged in again: your tokens are fresh.'),
        {
          autoClose: 5000
        }
      );
    }
  }

  private _id = '';
  private _welcomeId = '';
  private _shownFor: TokenState | null = null;
}
