/**
 * The status-bar item in each state: its text, its data-state, its accessible label and title,
 * the countdown it redraws by itself, and when the status bar shows it.
 */
import { nullTranslator } from '@jupyterlab/translation';

import { isShown, needsLogin, TokenStatusItem, timeLeft } from '../item';
import { StatusPoller } from '../poller';
import type { TokenState, TokenStatus } from '../status';
import { FakeServer, STATES, statusIn } from './fixtures';

const trans = nullTranslator.load('jupyter_ai_access');

/** What the item shows for each state (the countdown only while tokens are held). */
const EXPECTED: Record<TokenState, string> = {
  fresh: 'alice · fresh · 1 h 0 min',
  renewing: 'alice · renewing · 1 h 0 min',
  cognito_unreachable: 'alice · Cognito unreachable',
  hub_unreachable: 'alice · Hub unreachable',
  scope_missing: 'alice · token scope missing',
  ended: 'alice · session ended',
  off: '(unknown user) · off',
  'signed-out': 'alice · not signed in'
};

describe('TokenStatusItem', () => {
  let server: FakeServer;
  let poller: StatusPoller;
  let item: TokenStatusItem;
  let clicks: number;
  let shownChanges: number;

  async function show(status: TokenStatus): Promise<HTMLButtonElement> {
    server.answer(status);
    await jest.advanceTimersByTimeAsync(0);
    return item.node.querySelector(
      'button.jp-AIAccess-status'
    ) as HTMLButtonElement;
  }

  beforeEach(async () => {
    jest.useFakeTimers();
    jest.setSystemTime(statusIn('fresh').now * 1000);
    server = new FakeServer();
    poller = new StatusPoller(server.settings());
    clicks = 0;
    shownChanges = 0;
    item = new TokenStatusItem(poller, trans, () => {
      clicks++;
    });
    item.shownChanged.connect(() => {
      shownChanges++;
    });
    poller.start();
    await jest.advanceTimersByTimeAsync(0);
  });

  afterEach(() => {
    item.dispose();
    poller.dispose();
    jest.useRealTimers();
  });

  it('says "renewing" and names no one before the first answer', () => {
    const button = item.node.querySelector('button') as HTMLButtonElement;
    expect(button.dataset.state).toBe('renewing');
    expect(button.textContent).toBe('(unknown user) · renewing');
    expect(isShown(poller.status)).toBe(false);
  });

  it.each(STATES)('renders the state %s', async state => {
    const status = statusIn(state);
    const button = await show(status);
    expect(button.dataset.state).toBe(state);
    expect(button.textContent).toBe(EXPECTED[state]);
    const label = button.getAttribute('aria-label') ?? '';
    const [name, stateText, left] = EXPECTED[state].split(' · ');
    expect(label).toBe(
      left
        ? `AI access: ${name}, tokens ${stateText}, expire in ${left}. Open the token status.`
        : `AI access: ${name}, tokens ${stateText}. Open the token status.`
    );
    if (status.last_error) {
      expect(button.title).toBe(`${label}\n${status.last_error}`);
    } else {
      expect(button.title).toBe(label);
    }
    expect(isShown(poller.status)).toBe(state !== 'off');
    expect(shownChanges).toBe(state === 'off' ? 0 : 1);
  });

  it('offers to log in again exactly in the states where the user must act', () => {
    const acting = STATES.filter(state => needsLogin(state));
    expect(acting).toEqual([
      'cognito_unreachable',
      'hub_unreachable',
      'scope_missing',
      'ended'
    ]);
    expect(needsLogin(undefined)).toBe(false);
  });

  it('counts down by itself, every second in the last three minutes', async () => {
    const now = statusIn('fresh').now;
    const button = await show(statusIn('fresh', { expires_at: now + 125 }));
    expect(button.textContent).toBe('alice · fresh · 2 min');
    await jest.advanceTimersByTimeAsync(6000); // no request: the item redraws itself
    expect(button.textContent).toBe('alice · fresh · 119 s');
    // the only request since is the long-poll the server still holds: no answer redrew it
    expect(server.requests).toHaveLength(2);
    expect(server.open).toBe(1);
  });

  it('counts against the server clock, not the browser clock', async () => {
    jest.setSystemTime((statusIn('fresh').now - 600) * 1000); // browser 10 min behind
    const button = await show(statusIn('fresh'));
    expect(button.textContent).toBe('alice · fresh · 1 h 0 min');
  });

  it('is hidden, then shown, then hidden as the server says', async () => {
    await show(statusIn('fresh'));
    expect(shownChanges).toBe(1);
    await jest.advanceTimersByTimeAsync(1000);
    await show(statusIn('off'));
    expect(shownChanges).toBe(2);
    expect(isShown(poller.status)).toBe(false);
  });

  it('opens the token status when clicked', async () => {
    const button = await show(statusIn('fresh'));
    button.click();
    expect(clicks).toBe(1);
  });
});

describe('timeLeft', () => {
  it.each([
    [3725, '1 h 2 min'],
    [3600, '1 h 0 min'],
    [150, '2 min'],
    [120, '2 min'],
    [119.9, '119 s'],
    [0, '0 s'],
    [-30, '0 s']
  ])('%d s is "%s"', (seconds, text) => {
    expect(timeLeft(trans, seconds)).toBe(text);
  });
});
