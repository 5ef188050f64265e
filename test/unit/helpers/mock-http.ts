/**
 * An undici MockAgent as the global dispatcher for each test of the calling
 * scope: no real network, and a test fails if a stub it declared went unused.
 */
import { afterEach, beforeEach } from 'node:test';
import { getGlobalDispatcher, MockAgent, setGlobalDispatcher, type Dispatcher } from 'undici';

/** Registers the hooks; call the returned function inside a test to get its agent. */
export function useMockAgent(): () => MockAgent {
  let mock: MockAgent | undefined;
  let saved: Dispatcher;
  beforeEach(() => {
    saved = getGlobalDispatcher();
    mock = new MockAgent();
    mock.disableNetConnect();
    setGlobalDispatcher(mock);
  });
  afterEach(async () => {
    mock!.assertNoPendingInterceptors();
    setGlobalDispatcher(saved);
    await mock!.close();
  });
  return () => mock!;
}
