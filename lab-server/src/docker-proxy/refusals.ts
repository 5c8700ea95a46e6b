// The answers the proxy gives instead of the engine's. Objects of another session get the
// engine's own "not found" reply, word for word, so a learner cannot tell them from objects that
// do not exist; everything else the lab forbids says so and says what to do instead.

export class ProxyRefusal extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = 'ProxyRefusal';
    this.status = status;
  }

  /** The body the engine sends with an error, which the Docker CLI prints after "Error response from daemon:". */
  toJSON(): { message: string } {
    return { message: this.message };
  }
}

/** 403: the lab forbids this, whoever owns the object. */
export function notAllowed(what: string, instead?: string): ProxyRefusal {
  return new ProxyRefusal(
    403,
    `${what} is not allowed in this lab${instead ? `; ${instead}` : ''}`,
  );
}

export function noSuchContainer(id: string): ProxyRefusal {
  return new ProxyRefusal(404, `No such container: ${id}`);
}

export function noSuchImage(ref: string): ProxyRefusal {
  return new ProxyRefusal(404, `No such image: ${ref}`);
}

export function noSuchNetwork(id: string): ProxyRefusal {
  return new ProxyRefusal(404, `network ${id} not found`);
}

export function noSuchExec(id: string): ProxyRefusal {
  return new ProxyRefusal(404, `No such exec instance: ${id}`);
}

export function noSuchVolume(name: string): ProxyRefusal {
  return new ProxyRefusal(404, `get ${name}: no such volume`);
}

export function noSuchPlugin(name: string): ProxyRefusal {
  return new ProxyRefusal(404, `plugin "${name}" not found`);
}

export function badRequest(message: string): ProxyRefusal {
  return new ProxyRefusal(400, message);
}
