// Calls to the instructor's API. Every call carries the instructor token as a Bearer token; the
// live roster is read as server-sent events over fetch, so the token never goes in a URL.

export interface TrainingInfo {
  id: string;
  name: string;
  labs: { id: string; title: string }[];
  minutes: number;
  expectedLearners: number;
  joinCode: string;
  joinUrls: string[];
  endsAt: string;
  endedAt: string | null;
  open: boolean;
  /** Minutes one press of Add time gives a learner's lab session (LAB_EXTEND_MINUTES). */
  addTimeMinutes: number;
}

export interface RosterEntry {
  key: string;
  name: string;
  lab: { id: string; title: string } | null;
  step: { id: string; title: string; number: number; of: number } | null;
  stepsPassed: number;
  stepsTotal: number;
  session: {
    id: string;
    labId: string;
    expiresAt: string;
    secondsLeft: number;
    terminals: { id: string; title: string }[];
  } | null;
  connected: boolean;
}

export interface RosterSnapshot extends TrainingInfo {
  learners: RosterEntry[];
}

export class InstructorApi {
  private readonly token: string;

  constructor(token: string) {
    this.token = token;
  }

  get subprotocols(): string[] {
    return ['ddev-lab.v1', `ddev-lab.instructor.${this.token}`];
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`/api/instructor${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 204) return undefined as T;

    const payload = await response.json().catch(() => ({}));
    if (!response.ok)
      throw Object.assign(
        new Error(payload.message ?? `The lab server replied ${response.status}.`),
        { status: response.status },
      );
    return payload as T;
  }

  /** Reads `roster` events until the signal aborts or the stream ends; then resolves. */
  async follow(
    trainingId: string,
    onRoster: (snapshot: RosterSnapshot) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const response = await fetch(`/api/instructor/trainings/${trainingId}/events`, {
      headers: { authorization: `Bearer ${this.token}` },
      signal,
    });
    if (!response.ok || !response.body)
      throw new Error(`The live roster could not be opened (${response.status}).`);

    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    while (true) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;

      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = event
          .split('\n')
          .filter((line) => line.startsWith('data: '))
          .map((line) => line.slice(6))
          .join('\n');
        if (data) onRoster(JSON.parse(data) as RosterSnapshot);
      }
    }
  }
}
