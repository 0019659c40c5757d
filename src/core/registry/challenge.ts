/**
 * `WWW-Authenticate` parsing (RFC 7235): one header may carry several challenges, each with
 * `key=value` or `key="quoted, value"` parameters, so a plain split on commas is wrong.
 */

export interface Challenge {
  /** Lower case: `bearer`, `basic`. */
  scheme: string;
  /** Parameter names in lower case: `realm`, `service`, `scope`, `error`. */
  params: Record<string, string>;
}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;

export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const out: Challenge[] = [];
  for (const line of header === undefined ? [] : Array.isArray(header) ? header : [header]) parseLine(line, out);
  return out;
}

function parseLine(text: string, out: Challenge[]): void {
  let i = 0;
  let current: Challenge | undefined;
  const skipSpace = (): void => {
    while (text[i] === ' ' || text[i] === '\t') i++;
  };
  const token = (): string => {
    TOKEN.lastIndex = i;
    const match = TOKEN.exec(text);
    if (!match) return '';
    i = TOKEN.lastIndex;
    return match[0];
  };
  const quoted = (): string => {
    let value = '';
    for (i++; i < text.length && text[i] !== '"'; i++) {
      if (text[i] === '\\' && i + 1 < text.length) i++;
      value += text[i];
    }
    i++;
    return value;
  };

  while (i < text.length) {
    skipSpace();
    if (text[i] === ',') {
      i++;
      continue;
    }
    const name = token();
    if (name === '') {
      i++;
      continue;
    }
    skipSpace();
    if (text[i] === '=' && current !== undefined) {
      i++;
      skipSpace();
      current.params[name.toLowerCase()] = text[i] === '"' ? quoted() : token();
    } else {
      current = { scheme: name.toLowerCase(), params: {} };
      out.push(current);
    }
  }
}
