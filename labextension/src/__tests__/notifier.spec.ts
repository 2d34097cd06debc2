/**
 * The session's notifications: one "Log in again" while the user has to act, one "Logged in
 * again" when the tokens are fresh again, and never two of the same on screen.
 */
import { Notification } from '@jupyterlab/apputils';
import { nullTranslator } from '@jupyterlab/translation';

import { Notifier } from '../notifier';
import { statusIn } from './fixtures';

const trans = nullTranslator.load('jupyter_ai_access');

/** The notifications on screen, as (type, message). */
function shown(): [string, string][] {
  return Notification.manager.notifications.map(n => [n.type, n.message]);
}

const ENDED = [
  'warning',
  'Your JupyterHub session has ended: your kernels no longer get tokens. Log in again to continue.'
];
const AGAIN = ['success', 'Logged in again: your tokens are fresh.'];

describe('Notifier', () => {
  let logins: number;
  let notifier: Notifier;

  beforeEach(() => {
    Notification.manager.dismiss();
    logins = 0;
    notifier = new Notifier(trans, () => (logins += 1));
  });

  it('says nothing while all is well', () => {
    notifier.update(statusIn('fresh'));
    notifier.update(statusIn('renewing'));
    expect(shown()).toEqual([]);
  });

  it('asks to log in again once per state, and its action opens the login', () => {
    notifier.update(statusIn('fresh'));
    notifier.update(statusIn('ended'));
    notifier.update(statusIn('ended'));
    expect(shown()).toEqual([ENDED]);
    const [ended] = Notification.manager.notifications;
    const action = ended.options.actions?.[0];
    expect(action?.label).toBe('Log in again');
    action?.callback(new MouseEvent('click'));
    expect(logins).toBe(1);
  });

  it('replaces the request by one "logged in again" when the tokens are fresh again', () => {
    notifier.update(statusIn('ended'));
    notifier.update(statusIn('fresh'));
    expect(shown()).toEqual([AGAIN]);
  });

  it('shows one "logged in again" after a refusal between two good answers', () => {
    // the new login's tokens, then the old cookie refused once (ended), then fresh again
    notifier.update(statusIn('ended'));
    notifier.update(statusIn('fresh'));
    notifier.update(statusIn('ended'));
    expect(shown()).toEqual([ENDED]);
    notifier.update(statusIn('fresh'));
    expect(shown()).toEqual([AGAIN]);
  });

  it('names the state when renewal fails', () => {
    notifier.update(statusIn('hub_unreachable'));
    const [[type, message]] = shown();
    expect(type).toBe('error');
    expect(message).toContain(
      'Your tokens cannot be renewed (Hub unreachable)'
    );
  });
});
