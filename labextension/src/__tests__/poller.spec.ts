/**
 * The poller against a stand-in server: one long-poll at a time, the back-off after failures,
 * the end of the session on 401/403, waking on focus, and stopping.
 */
import {
  MAX_BACKOFF_MS,
  MIN_INTERVAL_MS,
  StatusPoller,
  WAIT_SECONDS
} from '../poller';
import type { TokenStatus } from '../status';
import { FakeServer, statusIn } from './fixtures';

/** Let the poller's promises settle after ``ms`` of (fake) time. */
async function advance(ms = 0): Promise<void> {
  await jest.advanceTimersByTimeAsync(ms);
}

describe('StatusPoller', () => {
  let server: FakeServer;
  let poller: StatusPoller;
  let seen: TokenStatus[];

  beforeEach(async () => {
    jest.useFakeTimers();
    jest.setSystemTime(statusIn('fresh').now * 1000 - 5000); // browser 5 s behind the server
    server = new FakeServer();
    poller = new StatusPoller(server.settings());
    seen = [];
    poller.changed.connect((_, status) => {
      seen.push(status);
    });
    poller.start();
    await advance();
  });

  afterEach(() => {
    poller.dispose();
    jest.useRealTimers();
  });

  it('asks for the status at once, then long-polls since the version it holds', async () => {
    expect(server.requests).toHaveLength(1);
    const first = server.requests[0];
    expect(first.pathname).toBe('/user/alice/ai-access/api/status');
    expect(first.searchParams.has('wait')).toBe(false);
    expect(poller.status).toBeNull();

    server.answer(statusIn('fresh', { version: 7 }));
    await advance();
    expect(seen.map(s => s.state)).toEqual(['fresh']);
    expect(poller.status?.version).toBe(7);
    expect(poller.clockOffset).toBeCloseTo(5, 3);

    await advance(MIN_INTERVAL_MS);
    expect(server.requests).toHaveLength(2);
    const next = server.requests[1];
    expect(next.searchParams.get('wait')).toBe(String(WAIT_SECONDS));
    expect(next.searchParams.get('since')).toBe('7');
    expect(server.open).toBe(1); // one request at a time
  });

  it('never sends two requests within the minimum interval', async () => {
    server.answer(statusIn('fresh'));
    await advance(MIN_INTERVAL_MS - 1);
    expect(server.requests).toHaveLength(1);
    await advance(1);
    expect(server.requests).toHaveLength(2);
  });

  it('asks again at once after a long-poll the server held', async () => {
    server.answer(statusIn('fresh'));
    await advance(MIN_INTERVAL_MS);
    await advance(30_000); // the server holds the request until a change
    server.answer(statusIn('ended', { version: 4 }));
    await advance();
    expect(seen.map(s => s.state)).toEqual(['fresh', 'ended']);
    expect(server.requests).toHaveLength(3);
    expect(server.requests[2].searchParams.get('since')).toBe('4');
  });

  it('backs off from 2 s, doubling up to the maximum, and starts again after a success', async () => {
    const waits: number[] = [];
    for (let i = 0; i < 7; i++) {
      server.answer({ message: 'bad gateway' }, 502);
      await advance();
      const before = server.requests.length;
      let waited = 0;
      while (server.requests.length === before) {
        await advance(1000);
        waited += 1000;
        expect(waited).toBeLessThanOrEqual(MAX_BACKOFF_MS);
      }
      waits.push(waited);
    }
    expect(waits).toEqual([2000, 4000, 8000, 16000, 32000, 60000, 60000]);
    expect(seen).toEqual([]); // failures alone change nothing the item shows

    server.answer(statusIn('fresh'));
    await advance(MIN_INTERVAL_MS);
    server.fail(); // a network failure: the back-off starts from 2 s again
    await advance(1999);
    const count = server.requests.length;
    await advance(1);
    expect(server.requests.length).toBe(count + 1);
  });

  it.each([401, 403])(
    'turns a known status into "ended" when the server answers %i',
    async code => {
      server.answer(statusIn('fresh'));
      await advance(MIN_INTERVAL_MS);
      server.answer({ message: 'Forbidden' }, code);
      await advance();
      expect(seen.map(s => s.state)).toEqual(['fresh', 'ended']);
      expect(poller.status?.user).toBe('alice'); // who was signed in stays shown
    }
  );

  it('asks without waiting after a refusal: a new login at the same version shows at once', async () => {
    // Seen in the README's deployment: the answer with the new login's tokens (version 3) came,
    // then the old session's cookie was refused once (403: "ended" shown). Long-polling since
    // version 3 again would wait for a change that had already happened (up to WAIT_SECONDS).
    server.answer(statusIn('fresh', { version: 3 }));
    await advance(MIN_INTERVAL_MS);
    server.answer({ message: 'Forbidden' }, 403);
    await advance();
    expect(seen.map(s => s.state)).toEqual(['fresh', 'ended']);
    await advance(2000); // the back-off's first step
    const retry = server.requests[server.requests.length - 1];
    expect(retry.searchParams.has('since')).toBe(false);
    expect(retry.searchParams.has('wait')).toBe(false);
    server.answer(statusIn('fresh', { version: 3 }));
    await advance();
    expect(seen.map(s => s.state)).toEqual(['fresh', 'ended', 'fresh']);
    await advance(MIN_INTERVAL_MS); // then long-polls again
    const next = server.requests[server.requests.length - 1];
    expect(next.searchParams.get('since')).toBe('3');
  });

  it('says nothing on 403 before any status is known', async () => {
    server.answer({ message: 'Forbidden' }, 403);
    await advance();
    expect(seen).toEqual([]);
    expect(poller.status).toBeNull();
  });

  it('asks again at once when the window regains focus during a back-off', async () => {
    server.answer({}, 500);
    await advance(1000);
    expect(server.requests).toHaveLength(1);
    window.dispatchEvent(new Event('focus'));
    await advance();
    expect(server.requests).toHaveLength(2);
  });

  it('starts once, and stops: the open request is aborted and no other follows', async () => {
    poller.start();
    await advance();
    expect(server.requests).toHaveLength(1);
    poller.dispose();
    await advance();
    expect(server.aborted).toHaveLength(1);
    await advance(10 * MAX_BACKOFF_MS);
    expect(server.requests).toHaveLength(1);
    expect(seen).toEqual([]);
  });
});
