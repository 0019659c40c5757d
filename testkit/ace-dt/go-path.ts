/** Go's `path` (slash-separated names: tar entries) and `filepath.Ext` (file names on Linux). */

/** path.Clean: lexical, `..` kept at the front of a relative name, never a trailing slash. */
export function clean(name: string): string {
  if (name === '') return '.';
  const rooted = name.startsWith('/');
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part !== '..') out.push(part);
    else if (out.length > 0 && out.at(-1) !== '..') out.pop();
    else if (!rooted) out.push('..');
  }
  const joined = (rooted ? '/' : '') + out.join('/');
  return joined === '' ? (rooted ? '/' : '.') : joined;
}

/** path.Dir: everything up to the last slash, cleaned. */
export function dir(name: string): string {
  return clean(name.slice(0, name.lastIndexOf('/') + 1));
}

/** path.Base: the last element, trailing slashes dropped. */
export function base(name: string): string {
  if (name === '') return '.';
  const trimmed = name.replace(/\/+$/, '');
  if (trimmed === '') return '/';
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/** filepath.Ext: from the last dot of the last element, or "". */
export function ext(name: string): string {
  for (let i = name.length - 1; i >= 0 && name[i] !== '/'; i--) if (name[i] === '.') return name.slice(i);
  return '';
}
