// Join codes and display names: what a learner types to join a training. A code is six
// characters from an alphabet without look-alikes (no 0/O, 1/I/L, 2/Z, 5/S, 8/B), so it can be read
// off a projector and typed on a phone. Typing is forgiving: case, spaces and dashes are ignored.
import { randomInt } from 'node:crypto';

export const JOIN_CODE_ALPHABET = 'ACDEFGHJKMNPQRTUVWXY34679';
export const JOIN_CODE_LENGTH = 6;
export const DISPLAY_NAME_MAX = 40;

/** A fresh random code; 25^6 (about 244 million) codes, so a guess rarely hits a live one. */
export function newJoinCode(): string {
  let code = '';
  for (let index = 0; index < JOIN_CODE_LENGTH; index += 1)
    code += JOIN_CODE_ALPHABET[randomInt(JOIN_CODE_ALPHABET.length)];
  return code;
}

/** The canonical form of what a learner typed, or undefined when it cannot be a code. */
export function normalizeJoinCode(typed: unknown): string | undefined {
  if (typeof typed !== 'string' || typed.length > 32) return undefined;

  const code = typed.toUpperCase().replace(/[\s-]/g, '');
  if (code.length !== JOIN_CODE_LENGTH) return undefined;
  return [...code].every((char) => JOIN_CODE_ALPHABET.includes(char)) ? code : undefined;
}

/** Shows a code as two groups of three, as on the dashboard and the welcome slide. */
export function formatJoinCode(code: string): string {
  return `${code.slice(0, 3)}-${code.slice(3)}`;
}

/**
 * The display name a learner chose, trimmed and with runs of white space made one space, or an
 * error message saying what to change. Control and format characters are refused, because the
 * name is shown to the instructor and must look like what it is.
 */
export function checkDisplayName(typed: unknown): { name: string } | { problem: string } {
  if (typeof typed !== 'string') return { problem: 'Type a name to show the instructor.' };

  const name = typed.normalize('NFC').trim().replace(/\s+/g, ' ');
  if (name.length === 0) return { problem: 'Type a name to show the instructor.' };
  if ([...name].length > DISPLAY_NAME_MAX)
    return { problem: `Use at most ${DISPLAY_NAME_MAX} characters for your name.` };
  if (/[\p{Cc}\p{Cf}]/u.test(name))
    return { problem: 'Use letters, digits, spaces and punctuation only in your name.' };
  return { name };
}
