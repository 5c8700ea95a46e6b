// The session clock on the lab page: the time left from the server's expiry, the Add time
// button, and a heartbeat that reports to the server that the tab is open and whether the
// learner pressed a key or clicked since the last one.
import { extendSession, sendHeartbeat, type SessionInfo, type SessionTimes } from './lab-api.ts';

const HEARTBEAT_MS = 30_000;
/** Offer Add time once this little is left. */
const OFFER_EXTEND_MS = 10 * 60_000;

export interface LabClock {
  /** Sends a heartbeat now, to learn at once whether the session still runs. */
  checkNow(): void;
  dispose(): void;
}

export function startClock(options: {
  root: HTMLElement;
  session: SessionInfo;
  onExpired: () => void;
  onLost: (error: unknown) => void;
}): LabClock {
  const { root, session } = options;
  const display = root.querySelector<HTMLElement>('.lab-timer')!;
  const extendButton = root.querySelector<HTMLButtonElement>('.lab-extend')!;
  let times: SessionTimes = { expiresAt: session.expiresAt, maxExpiresAt: session.maxExpiresAt };
  let active = false;

  const markActive = () => (active = true);
  root.addEventListener('keydown', markActive, true);
  root.addEventListener('pointerdown', markActive, true);

  const update = () => {
    const left = Date.parse(times.expiresAt) - Date.now();
    const seconds = Math.max(0, Math.round(left / 1000));
    display.textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')} left`;
    extendButton.hidden = !(
      left < OFFER_EXTEND_MS && Date.parse(times.maxExpiresAt) - Date.parse(times.expiresAt) > 1000
    );
    if (seconds === 0) options.onExpired();
  };

  const beat = async () => {
    const wasActive = active;
    active = false;
    try {
      times = await sendHeartbeat(session, wasActive);
    } catch (error) {
      options.onLost(error);
    }
  };

  const onExtend = async () => {
    extendButton.disabled = true;
    try {
      times = await extendSession(session);
      update();
    } finally {
      extendButton.disabled = false;
    }
  };
  extendButton.addEventListener('click', onExtend);

  update();
  const tick = window.setInterval(update, 1000);
  const heartbeat = window.setInterval(() => void beat(), HEARTBEAT_MS);
  void beat();

  return {
    checkNow: () => void beat(),
    dispose: () => {
      window.clearInterval(tick);
      window.clearInterval(heartbeat);
      root.removeEventListener('keydown', markActive, true);
      root.removeEventListener('pointerdown', markActive, true);
      extendButton.removeEventListener('click', onExtend);
      extendButton.hidden = true;
      display.textContent = '';
    },
  };
}
