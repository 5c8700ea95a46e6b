// Variable substitution and quoting in Dockerfile arguments, as the builder does for ENV, ARG,
// LABEL, COPY, ADD, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL and FROM: single quotes keep text
// as written, double quotes and a backslash group and escape, and $NAME, ${NAME},
// ${NAME:-default} and ${NAME:+alternative} take values from the environment and build arguments.

export type Variables = Readonly<Record<string, string>>;

/** Processes the text as one word: quotes removed, variables replaced. */
export function expandWord(text: string, variables: Variables): string {
  return lex(text, variables, false).join('');
}

/** Processes the text into words split at unquoted blanks. */
export function expandWords(text: string, variables: Variables): string[] {
  return lex(text, variables, true);
}

/**
 * Splits `key=value` pairs at unquoted blanks, keeping quotes for expandWord; a first word
 * without `=` is the older `KEY value with blanks` form.
 */
export function splitPairs(text: string): Array<{ key: string; value: string | undefined }> {
  const tokens = rawTokens(text);
  if (tokens.length === 0) return [];
  if (!tokens[0]!.includes('=')) {
    const key = tokens[0]!;
    const value = text.trim().slice(key.length).trim();
    return [{ key, value: tokens.length > 1 ? value : undefined }];
  }
  return tokens.map((token) => {
    const equals = token.indexOf('=');
    return equals < 0
      ? { key: token, value: undefined }
      : { key: token.slice(0, equals), value: token.slice(equals + 1) };
  });
}

/** Splits at unquoted blanks, leaving quotes and escapes in the tokens. */
function rawTokens(text: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let quote: string | undefined;
  for (let index = 0; index < text.length; index += 1) {
    const char = text[index]!;
    if (quote) {
      current += char;
      if (char === '\\' && quote === '"' && index + 1 < text.length) current += text[++index];
      else if (char === quote) quote = undefined;
    } else if (/\s/.test(char)) {
      if (current) tokens.push(current);
      current = '';
    } else {
      current += char;
      if (char === '\\' && index + 1 < text.length) current += text[++index];
      else if (char === '"' || char === "'") quote = char;
    }
  }
  if (current) tokens.push(current);
  return tokens;
}

function lex(text: string, variables: Variables, split: boolean): string[] {
  const words: string[] = [];
  let word = '';
  let started = false;
  let index = 0;

  const finish = () => {
    if (started) words.push(word);
    word = '';
    started = false;
  };

  while (index < text.length) {
    const char = text[index]!;
    if (split && /\s/.test(char)) {
      finish();
      index += 1;
      continue;
    }
    started = true;
    if (char === "'") {
      const end = text.indexOf("'", index + 1);
      if (end < 0)
        throw new Error(
          `unexpected end of statement while looking for matching single-quote in "${text}"`,
        );
      word += text.slice(index + 1, end);
      index = end + 1;
    } else if (char === '"') {
      index += 1;
      for (;;) {
        if (index >= text.length)
          throw new Error(
            `unexpected end of statement while looking for matching double-quote in "${text}"`,
          );
        const inner = text[index]!;
        if (inner === '"') {
          index += 1;
          break;
        }
        if (inner === '\\' && index + 1 < text.length && '"$\\'.includes(text[index + 1]!)) {
          word += text[index + 1];
          index += 2;
        } else if (inner === '$') {
          const [value, next] = variable(text, index, variables);
          word += value;
          index = next;
        } else {
          word += inner;
          index += 1;
        }
      }
    } else if (char === '\\') {
      word += text[index + 1] ?? '';
      index += 2;
    } else if (char === '$') {
      const [value, next] = variable(text, index, variables);
      word += value;
      index = next;
    } else {
      word += char;
      index += 1;
    }
  }
  finish();
  return words;
}

/** Reads the variable reference at `start` (a `$`); returns its value and the index after it. */
function variable(text: string, start: number, variables: Variables): [string, number] {
  const bare = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(text.slice(start));
  if (bare) return [variables[bare[1]!] ?? '', start + bare[0].length];
  if (text[start + 1] !== '{') return ['$', start + 1];

  const end = matchingBrace(text, start + 2);
  if (end < 0) throw new Error(`missing '}' in "${text}"`);
  const body = text.slice(start + 2, end);
  const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])(.*))?$/s.exec(body);
  if (!match) throw new Error(`bad substitution \${${body}} in "${text}"`);

  const [, name, operator, operand = ''] = match;
  const value = variables[name!];
  const set = operator?.startsWith(':') ? value !== undefined && value !== '' : value !== undefined;
  if (operator?.endsWith('-')) return [set ? value! : expandWord(operand, variables), end + 1];
  if (operator?.endsWith('+')) return [set ? expandWord(operand, variables) : '', end + 1];
  return [value ?? '', end + 1];
}

function matchingBrace(text: string, from: number): number {
  let depth = 1;
  for (let index = from; index < text.length; index += 1) {
    if (text[index] === '{') depth += 1;
    if (text[index] === '}' && --depth === 0) return index;
  }
  return -1;
}
