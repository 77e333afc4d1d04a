/**
 * Browser mode's lost session: when the server restarted (new token) every call answers 401. The
 * page says so once, in plain words, and lets the person sign in again with the new URL or token
 * (a dialog in App.svelte); whatever waited for that (the autosave queue, the event stream) is told
 * when it has happened.
 */
import { onSessionLost, signIn, transport } from './api';
import { events } from './events.svelte';

class SignInState {
  /** The server no longer accepts this page's key. */
  lost = $state(false);
  /** The server's words, for the curious. */
  reason = $state('');
  private readonly waiting = new Set<() => void>();

  constructor() {
    if (transport === 'http') {
      onSessionLost((message) => {
        this.lost = true;
        this.reason = message;
      });
    }
  }

  /** Bumped when the person asks for the sign-in dialog again (after closing it with "Later"). */
  asks = $state(0);

  /** Shows the sign-in dialog again. */
  ask(): void {
    this.asks++;
  }

  /** Runs `fn` each time the page has signed in again; returns the stop. */
  onSignedIn(fn: () => void): () => void {
    this.waiting.add(fn);
    return () => this.waiting.delete(fn);
  }

  /** Signs in with the new URL or token; throws a message for a person. */
  async signIn(text: string): Promise<void> {
    await signIn(text);
    this.lost = false;
    this.reason = '';
    events.reconnect();
    for (const fn of this.waiting) fn();
  }
}

export const signin = new SignInState();
